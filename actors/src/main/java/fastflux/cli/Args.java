package fastflux.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * {@code --key value} and {@code --flag} options plus positional arguments. Every option a command reads is
 * recorded, so {@link #rejectUnknown()} can name the ones nobody asked for (typos) instead of ignoring them.
 */
public final class Args {
    private final Map<String, String> options = new LinkedHashMap<>();
    private final List<String> positional = new ArrayList<>();
    private final Set<String> read = new TreeSet<>();
    private final String command;

    public Args(String command, String[] argv, Set<String> flags) {
        this.command = command;
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (a.startsWith("--")) {
                String key = a.substring(2);
                String value;
                int eq = key.indexOf('=');
                if (eq >= 0) {
                    value = key.substring(eq + 1);
                    key = key.substring(0, eq);
                } else if (flags.contains(key)) {
                    value = "true";
                } else {
                    if (i + 1 >= argv.length) throw new UsageException(command + ": option --" + key + " needs a value");
                    value = argv[++i];
                }
                if (options.put(key, value) != null) throw new UsageException(command + ": option --" + key + " given twice");
            } else {
                positional.add(a);
            }
        }
    }

    public String command() {
        return command;
    }

    public List<String> positional() {
        return positional;
    }

    public boolean has(String key) {
        read.add(key);
        return options.containsKey(key);
    }

    public boolean flag(String key) {
        read.add(key);
        return Boolean.parseBoolean(options.getOrDefault(key, "false"));
    }

    public String string(String key, String def) {
        read.add(key);
        return options.getOrDefault(key, def);
    }

    public String required(String key) {
        read.add(key);
        String v = options.get(key);
        if (v == null) throw new UsageException(command + ": missing required option --" + key);
        return v;
    }

    public Path path(String key) {
        return Path.of(required(key));
    }

    public Path path(String key, Path def) {
        String v = string(key, null);
        return v == null ? def : Path.of(v);
    }

    public int integer(String key, int def) {
        String v = string(key, null);
        if (v == null) return def;
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new UsageException(command + ": --" + key + " must be an integer, got '" + v + "'");
        }
    }

    public double number(String key, double def) {
        String v = string(key, null);
        if (v == null) return def;
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new UsageException(command + ": --" + key + " must be a number, got '" + v + "'");
        }
    }

    /** Fails naming every option that no read asked for. Call after reading all options. */
    public void rejectUnknown() {
        List<String> unknown = new ArrayList<>();
        for (String k : options.keySet()) if (!read.contains(k)) unknown.add("--" + k);
        if (!unknown.isEmpty()) throw new UsageException(command + ": unknown option(s) " + String.join(", ", unknown));
    }

    /** A command-line mistake: printed without a stack trace, exit status 2. */
    public static final class UsageException extends RuntimeException {
        public UsageException(String message) {
            super(message);
        }
    }
}
