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
 * recorded, so {@link #rejectUnknown()} can name the ones nobody asked for (typos) instead of ignoring them, and
 * positional arguments a command never looked at; an option whose value is missing is named when it is read,
 * or as unknown when nobody reads it (a mistyped flag at the end of the line).
 */
public final class Args {
    private final Map<String, String> options = new LinkedHashMap<>();
    private final List<String> positional = new ArrayList<>();
    private final Set<String> read = new TreeSet<>();
    /** Options given last on the line, or followed by another option, where a value was expected. */
    private final Set<String> valueless = new TreeSet<>();
    private final String command;
    private boolean positionalRead;

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
                } else if (i + 1 >= argv.length || argv[i + 1].startsWith("--")) {
                    valueless.add(key);
                    value = "";
                } else {
                    value = argv[++i];
                }
                if (options.put(key, value) != null) throw new UsageException(command + ": option --" + key + " given twice");
            } else if (a.startsWith("-") && a.length() > 1 && !isNumber(a)) {
                throw new UsageException(command + ": options start with two dashes: '" + a + "' is not one");
            } else {
                positional.add(a);
            }
        }
    }

    public String command() {
        return command;
    }

    public List<String> positional() {
        positionalRead = true;
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
        read(key);
        return options.getOrDefault(key, def);
    }

    public String required(String key) {
        read(key);
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

    /** Marks {@code key} read; an option given without its value is an error here. */
    private void read(String key) {
        read.add(key);
        if (valueless.contains(key)) throw new UsageException(command + ": option --" + key + " needs a value");
    }

    private static boolean isNumber(String a) {
        try {
            Double.parseDouble(a);
            return true;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /**
     * Fails naming every option that no read asked for, and the positional arguments when the command never
     * looked at them. Call after reading all options (and the positional arguments, if the command takes any).
     */
    public void rejectUnknown() {
        List<String> unknown = new ArrayList<>();
        for (String k : options.keySet()) if (!read.contains(k)) unknown.add("--" + k);
        if (!unknown.isEmpty()) throw new UsageException(command + ": unknown option(s) " + String.join(", ", unknown));
        if (!positionalRead && !positional.isEmpty()) {
            throw new UsageException(command + ": unexpected argument(s) " + String.join(" ", positional)
                    + " (options start with --)");
        }
    }

    /** A command-line mistake: printed without a stack trace, exit status 2. */
    public static final class UsageException extends RuntimeException {
        public UsageException(String message) {
            super(message);
        }
    }
}
