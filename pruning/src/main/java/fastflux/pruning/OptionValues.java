package fastflux.pruning;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The values of a list of {@link Option}s, immutable: each option's default unless set, every value in its range.
 * {@link #with} is the one way to change a value; {@link #toJson} and {@link #fromJson} are the saved form, keyed by the
 * options' names. A required option without a value is null until set ({@link #requireComplete}).
 */
public final class OptionValues {
    private final List<Option<?>> options;
    private final Map<Option<?>, Object> values;

    private OptionValues(List<Option<?>> options, Map<Option<?>, Object> values) {
        this.options = options;
        this.values = Collections.unmodifiableMap(values);
    }

    /** Every option of {@code options} at its default. */
    public static OptionValues defaults(List<Option<?>> options) {
        Map<Option<?>, Object> v = new LinkedHashMap<>();
        for (Option<?> o : options) v.put(o, o.defaultValue());
        return new OptionValues(List.copyOf(options), v);
    }

    /** The defaults with {@code given} set over them; throws IllegalArgumentException naming a value out of range. */
    public static OptionValues of(List<Option<?>> options, Map<Option<?>, ?> given) {
        OptionValues v = defaults(options);
        for (Map.Entry<Option<?>, ?> e : given.entrySet()) v = v.set(e.getKey(), e.getValue());
        return v;
    }

    /** The options these values are for, in their order. */
    public List<Option<?>> options() {
        return options;
    }

    public <T> T get(Option<T> o) {
        if (!values.containsKey(o)) throw new IllegalArgumentException("no option " + o + " here");
        @SuppressWarnings("unchecked")
        T v = (T) values.get(o);
        return v;
    }

    /** The same values with {@code o} set to {@code value}, checked against its range. */
    public <T> OptionValues with(Option<T> o, T value) {
        return set(o, value);
    }

    private OptionValues set(Option<?> o, Object value) {
        if (!values.containsKey(o)) throw new IllegalArgumentException("no option " + o + " here");
        Map<Option<?>, Object> v = new LinkedHashMap<>(values);
        v.put(o, o.cast(value));
        return new OptionValues(options, v);
    }

    /** These values' share for {@code subset} (each of them an option here). */
    public OptionValues select(List<Option<?>> subset) {
        Map<Option<?>, Object> v = new LinkedHashMap<>();
        for (Option<?> o : subset) v.put(o, get(o));
        return new OptionValues(List.copyOf(subset), v);
    }

    /** Throws IllegalArgumentException naming the required options still without a value, in {@code spelling}. */
    public OptionValues requireComplete(java.util.function.Function<Option<?>, String> spelling, String where) {
        List<String> missing = new ArrayList<>();
        for (Option<?> o : options) if (o.required() && values.get(o) == null) missing.add(spelling.apply(o));
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException(where + "missing required " + (missing.size() == 1 ? "option " : "options ")
                    + String.join(", ", missing));
        }
        return this;
    }

    /** One key per option, its name, in the options' order. */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        for (Option<?> opt : options) o.add(opt.name(), json(opt));
        return o;
    }

    private <T> JsonElement json(Option<T> o) {
        return o.toJson(get(o));
    }

    /**
     * Values read from {@link #toJson}'s form. Keys in an older spelling (snake_case, camelCase, an option's former
     * key) are read as their option's; an absent key is the default; a key of no option is an error naming it.
     */
    public static OptionValues fromJson(List<Option<?>> options, JsonObject json) {
        Map<Option<?>, Object> given = new LinkedHashMap<>();
        Map<Option<?>, String> keyOf = new LinkedHashMap<>();
        List<String> unknown = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : json.entrySet()) {
            Option<?> o = find(options, e.getKey());
            if (o == null) {
                unknown.add(e.getKey());
                continue;
            }
            String before = keyOf.put(o, e.getKey());
            if (before != null) throw new IllegalArgumentException("both " + before + " and " + e.getKey() + " are " + o.name());
            given.put(o, o.fromJson(e.getValue()));
        }
        if (!unknown.isEmpty()) throw new IllegalArgumentException("unknown option(s) " + unknown);
        return of(options, given);
    }

    /** The option {@code key} names in {@code options}, in its own spelling or an older one; null if none. */
    public static Option<?> find(List<Option<?>> options, String key) {
        for (Option<?> o : options) if (o.name().equals(key)) return o;
        for (Option<?> o : options) if (o.formerKeys().contains(key)) return o;
        String kebab = Option.kebab(key);
        for (Option<?> o : options) if (o.name().equals(kebab)) return o;
        return null;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof OptionValues v && options.equals(v.options) && values.equals(v.values);
    }

    @Override
    public int hashCode() {
        return Objects.hash(options, values);
    }

    @Override
    public String toString() {
        return toJson().toString();
    }
}
