package fastflux.pruning;

import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonPrimitive;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * One option of a pruning job, defined once: its name, value type, default, range and help. The name is the one
 * spelling everywhere, kebab-case: {@code --NAME} on the command line, the key in a job file (HOCON) and the key in the
 * saved state and report (JSON). The command line, the job-file reader, the JSON and the validation all read this
 * definition; {@link PruneOptions} and {@link JobOptions} hold the registry.
 *
 * @param <T> the value's Java type
 */
public final class Option<T> {
    /** How a value is written in a job file and in JSON: a number of some width, a boolean, or text. */
    public enum Kind { REAL, FLOAT, INT, LONG, BOOL, TEXT }

    private final String name;
    private final Kind kind;
    private final Class<T> type;
    private final String label;
    private final String help;
    private final Supplier<T> defaultValue;
    private final String defaultText;
    private final boolean required;
    private final boolean affectsResult;
    private final Function<String, T> parse;
    private final Function<T, String> format;
    private final List<Predicate<T>> valid;
    private final List<Function<T, String>> fault;
    private final List<String> choices;
    private final List<String> formerKeys;
    private final String renamedFlag;
    private final boolean renamedFlagTakesValue;
    private final String renamedTo;

    private Option(Builder<T> b) {
        this.name = b.name;
        this.kind = b.kind;
        this.type = b.type;
        this.label = b.label;
        this.help = Objects.requireNonNull(b.help, "help of " + b.name);
        this.defaultValue = b.defaultValue;
        this.defaultText = b.defaultText;
        this.required = b.required;
        this.affectsResult = b.affectsResult;
        this.parse = b.parse;
        this.format = b.format;
        this.valid = List.copyOf(b.valid);
        this.fault = List.copyOf(b.fault);
        this.choices = List.copyOf(b.choices);
        this.formerKeys = List.copyOf(b.formerKeys);
        this.renamedFlag = b.renamedFlag;
        this.renamedFlagTakesValue = b.renamedFlagTakesValue;
        this.renamedTo = b.renamedTo;
        if (!name.matches("[a-z][a-z0-9]*(-[a-z0-9]+)*")) throw new IllegalArgumentException("option names are kebab-case: " + name);
        T d = defaultValue.get();
        if (d != null) check(d);
    }

    /** The one spelling: {@code lora-rank}. */
    public String name() {
        return name;
    }

    /** The command line's spelling, {@code --lora-rank}. */
    public String flag() {
        return "--" + name;
    }

    public Kind kind() {
        return kind;
    }

    public Class<T> type() {
        return type;
    }

    /** The value's placeholder in help, {@code R}, {@code DIR}; empty for a boolean. */
    public String label() {
        return label;
    }

    /** What the option does, a sentence or two; the default is {@link #defaultText()}, not part of it. */
    public String help() {
        return help;
    }

    /** The value when the option is not given; null for an optional input such as a file. */
    public T defaultValue() {
        return defaultValue.get();
    }

    /** The default as help shows it; empty where there is none to show (a required option, an absent file). */
    public String defaultText() {
        if (defaultText != null) return defaultText;
        T d = defaultValue.get();
        return d == null ? "" : format(d);
    }

    /** Whether a job must give it (it has no default). */
    public boolean required() {
        return required;
    }

    /**
     * Whether the value can change the pruned model: false for a resource setting such as the sandwich pairs' memory
     * buffer, which a resumed run may change without its saved options counting as different.
     */
    public boolean affectsResult() {
        return affectsResult;
    }

    /** The values a text option takes ({@code fd-align}, {@code output-mse}); empty when any value in range will do. */
    public List<String> choices() {
        return choices;
    }

    /** Spellings of this option's key in JSON written before kebab-case, beyond the mechanical snake_case and camelCase. */
    public List<String> formerKeys() {
        return formerKeys;
    }

    /** A former command-line flag that now errs naming {@link #renamedTo()}, or null. */
    public String renamedFlag() {
        return renamedFlag;
    }

    /** Whether {@link #renamedFlag()} took a value (so a parser skips it with the flag). */
    public boolean renamedFlagTakesValue() {
        return renamedFlagTakesValue;
    }

    /** What replaces {@link #renamedFlag()}: a flag such as {@code --calib-steps} or {@code --no-sandwich-training}. */
    public String renamedTo() {
        return renamedTo;
    }

    /** The value of {@code text} (a command-line argument, a job file's string), checked against the range. */
    public T parse(String text) {
        T v = parse.apply(text.trim());
        check(v);
        return v;
    }

    /** The value as text, the inverse of {@link #parse}: {@code 0.0001}, {@code importance}, {@code linear}. */
    public String format(T value) {
        return format.apply(value);
    }

    /** Throws IllegalArgumentException, naming the option and the value, when {@code value} is out of range. */
    public T check(T value) {
        if (value == null) {
            if (required) throw new IllegalArgumentException(name + " is required");
            return null;
        }
        for (int i = 0; i < valid.size(); i++) {
            if (!valid.get(i).test(value)) throw new IllegalArgumentException(fault.get(i).apply(value));
        }
        return value;
    }

    /** {@code value} as this option's type, checked: what a reader with an untyped value hands over. */
    public T cast(Object value) {
        if (value != null && !boxed(type).isInstance(value)) {
            throw new IllegalArgumentException(name + " takes a " + type.getSimpleName() + ", got " + value.getClass().getSimpleName());
        }
        @SuppressWarnings("unchecked")
        T v = (T) value;
        return check(v);
    }

    /** The value as JSON: a number, a boolean, a string, or null for an absent file. */
    public JsonElement toJson(T value) {
        if (value == null) return JsonNull.INSTANCE;
        return switch (kind) {
            case REAL, FLOAT, INT, LONG -> new JsonPrimitive((Number) value);
            case BOOL -> new JsonPrimitive((Boolean) value);
            case TEXT -> new JsonPrimitive(format(value));
        };
    }

    /** The value of a JSON element written by {@link #toJson}; throws IllegalArgumentException naming a wrong type. */
    public T fromJson(JsonElement e) {
        if (e == null || e.isJsonNull()) return check(null);
        try {
            JsonPrimitive p = e.getAsJsonPrimitive();
            Object v = switch (kind) {
                case REAL -> number(p).doubleValue();
                case FLOAT -> number(p).floatValue();
                case INT -> whole(p, Integer.MIN_VALUE, Integer.MAX_VALUE).intValue();
                case LONG -> whole(p, Long.MIN_VALUE, Long.MAX_VALUE);
                case BOOL -> {
                    if (!p.isBoolean()) throw new IllegalArgumentException(name + " must be true or false, got " + p);
                    yield p.getAsBoolean();
                }
                case TEXT -> {
                    if (!p.isString()) throw new IllegalArgumentException(name + " must be a string, got " + p);
                    yield parse.apply(p.getAsString());
                }
            };
            return cast(v);
        } catch (IllegalStateException notPrimitive) {
            throw new IllegalArgumentException(name + " must be a single value, got " + e);
        }
    }

    private Number number(JsonPrimitive p) {
        if (!p.isNumber()) throw new IllegalArgumentException(name + " must be a number, got " + p);
        return p.getAsNumber();
    }

    private Long whole(JsonPrimitive p, long min, long max) {
        Number n = number(p);
        java.math.BigDecimal d = new java.math.BigDecimal(n.toString());
        try {
            long v = d.longValueExact();
            if (v < min || v > max) throw new ArithmeticException();
            return v;
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(name + " must be a whole number, got " + p);
        }
    }

    private static Class<?> boxed(Class<?> c) {
        if (!c.isPrimitive()) return c;
        return Map.of(int.class, Integer.class, long.class, Long.class, double.class, Double.class, float.class, Float.class,
                boolean.class, Boolean.class).get(c);
    }

    /** The kebab-case form of a snake_case or camelCase key: {@code lora_rank} and {@code loraRank} are {@code lora-rank}. */
    public static String kebab(String key) {
        String k = key.replace('_', '-');
        StringBuilder sb = new StringBuilder();
        for (char c : k.toCharArray()) {
            if (Character.isUpperCase(c)) sb.append('-').append(Character.toLowerCase(c));
            else sb.append(c);
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return name;
    }

    // ---- definitions

    /** A fractional number, such as a ratio or a learning rate. */
    public static Builder<Double> real(String name) {
        return new Builder<>(name, Kind.REAL, Double.class, "X", s -> Double.parseDouble(number(name, s)), PruneOptions::plain);
    }

    /** A single-precision number (LoRA alpha): its text is its own shortest one, {@code 0.3}, not its double's. */
    public static Builder<Float> single(String name) {
        return new Builder<>(name, Kind.FLOAT, Float.class, "X", s -> Float.parseFloat(number(name, s)), PruneOptions::plain);
    }

    public static Builder<Integer> integer(String name) {
        return new Builder<>(name, Kind.INT, Integer.class, "N", s -> {
            try {
                return Integer.parseInt(s);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + s + "' is not a whole number");
            }
        }, String::valueOf);
    }

    public static Builder<Long> whole(String name) {
        return new Builder<>(name, Kind.LONG, Long.class, "N", s -> {
            try {
                return Long.parseLong(s);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + s + "' is not a whole number");
            }
        }, String::valueOf);
    }

    /** On or off; the command line spells it {@code --NAME} / {@code --no-NAME}. */
    public static Builder<Boolean> flag(String name) {
        return new Builder<>(name, Kind.BOOL, Boolean.class, "", s -> switch (s.toLowerCase(Locale.ROOT)) {
            case "true", "on", "yes" -> true;
            case "false", "off", "no" -> false;
            default -> throw new IllegalArgumentException("'" + s + "' is not true or false");
        }, String::valueOf);
    }

    /** A file or directory; relative paths are resolved by the reader (against the client's working directory). */
    public static Builder<Path> path(String name) {
        return new Builder<>(name, Kind.TEXT, Path.class, "FILE", Path::of, Path::toString);
    }

    /** A value written as text and parsed by {@code parse} (a device list, a size); {@code format} is its inverse. */
    public static <T> Builder<T> text(String name, Class<T> type, Function<String, T> parse, Function<T, String> format) {
        return new Builder<>(name, Kind.TEXT, type, "TEXT", parse, format);
    }

    /**
     * One of {@code values} by their text (an enum's own spelling, a metric's name); anything else is
     * "unknown {@code noun} 'x' (a, b, c)".
     */
    public static <T> Builder<T> choice(String name, Class<T> type, String noun, Map<String, T> values) {
        Map<String, T> byText = new LinkedHashMap<>(values);
        Map<T, String> byValue = new LinkedHashMap<>();
        byText.forEach((k, v) -> byValue.put(v, k));
        String all = String.join(", ", byText.keySet());
        Builder<T> b = new Builder<>(name, Kind.TEXT, type, "", s -> {
            T v = byText.get(s);
            if (v == null) throw new IllegalArgumentException("unknown " + noun + " '" + s + "' (" + all + ")");
            return v;
        }, byValue::get);
        b.check(byValue::containsKey, v -> "unknown " + noun + " '" + v + "' (" + all + ")");
        b.choices.addAll(byText.keySet());
        b.label = String.join("|", byText.keySet());
        return b;
    }

    private static String number(String name, String s) {
        // Double.parseDouble also takes "1e-3f", "0x1p3" and surrounding blanks: a number here is plain decimal text.
        if (!s.matches("[+-]?(NaN|Infinity|(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?)")) {
            throw new IllegalArgumentException("'" + s + "' is not a number");
        }
        return s;
    }

    /** Builds one definition; each setter documents the field it sets. */
    public static final class Builder<T> {
        private final String name;
        private final Kind kind;
        private final Class<T> type;
        private String label;
        private String help;
        private Supplier<T> defaultValue = () -> null;
        private String defaultText;
        private boolean required;
        private boolean affectsResult = true;
        private final Function<String, T> parse;
        private final Function<T, String> format;
        private final List<Predicate<T>> valid = new ArrayList<>();
        private final List<Function<T, String>> fault = new ArrayList<>();
        private final List<String> choices = new ArrayList<>();
        private final List<String> formerKeys = new ArrayList<>();
        private String renamedFlag;
        private boolean renamedFlagTakesValue;
        private String renamedTo;

        private Builder(String name, Kind kind, Class<T> type, String label, Function<String, T> parse, Function<T, String> format) {
            this.name = name;
            this.kind = kind;
            this.type = type;
            this.label = label;
            this.parse = parse;
            this.format = format;
        }

        /** The value's placeholder in help ({@code R}, {@code DIR}). */
        public Builder<T> label(String l) {
            this.label = l;
            return this;
        }

        /** What the option does; help adds the default. */
        public Builder<T> help(String h) {
            this.help = h;
            return this;
        }

        public Builder<T> defaultValue(T d) {
            this.defaultValue = () -> d;
            return this;
        }

        /** A default that depends on where the program runs (the embedded model's directory), shown as {@code text}. */
        public Builder<T> defaultValue(Supplier<T> d, String text) {
            this.defaultValue = d;
            this.defaultText = text;
            return this;
        }

        /** How help shows the default, where the value itself does not say it (an absent file: "none"). */
        public Builder<T> defaultText(String text) {
            this.defaultText = text;
            return this;
        }

        /** A job must give it: no default. */
        public Builder<T> required() {
            this.required = true;
            return this;
        }

        /** The value cannot change the pruned model (a memory buffer): a resumed run may use another. */
        public Builder<T> resourceOnly() {
            this.affectsResult = false;
            return this;
        }

        /** A range check, and the message naming the value when it fails. */
        public Builder<T> check(Predicate<T> ok, Function<T, String> message) {
            valid.add(ok);
            fault.add(message);
            return this;
        }

        /** A key this option had in saved JSON that {@link Option#kebab} does not turn into its name. */
        public Builder<T> formerKey(String key) {
            formerKeys.add(key);
            return this;
        }

        /**
         * A command-line flag this option had before the one spelling: giving it is an error naming {@code now}.
         * {@code takesValue}: it was followed by a value, which the error skips with it.
         */
        public Builder<T> renamedFrom(String flag, boolean takesValue, String now) {
            this.renamedFlag = flag;
            this.renamedFlagTakesValue = takesValue;
            this.renamedTo = now;
            return this;
        }

        public Option<T> build() {
            return new Option<>(this);
        }
    }
}
