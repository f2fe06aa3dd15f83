package fastflux.pruning;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import fastflux.model.Replacement;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Everything a run's result depends on, the method's options; part of the saved state, so a resumed run must use the
 * same ones. Each option is defined once below ({@link Option}: name, type, default, range, help); the command line,
 * job files, the saved state and report all read these definitions, and {@link JobOptions} adds the job's inputs.
 * A value is immutable: {@code defaults(0.2).with(PruneOptions.LORA_RANK, 8)}.
 */
public final class PruneOptions {
    public enum Order { IMPORTANCE, START2END, END2START }

    /**
     * The neighbours' LoRA rank (alpha the same, so the adapters' scale is 1). Rank 2 of the Shapes model's width 128
     * is 1.6 %, the share a rank of 32–64 is of FLUX.1's 3072 (docs/method.md, "Sandwich training"); for FLUX.1 pass
     * {@code --lora-rank 32 --lora-alpha 32} or so.
     */
    public static final int DEFAULT_LORA_RANK = 2;

    /**
     * The sandwich trainer's learning rate for the replaced blocks' linears, a tenth of the adapters' (1e-3). Adam's
     * first updates move every weight by about the rate whatever its gradient, and a linear starts at its
     * least-squares optimum with inputs of large norm, so at the adapters' rate one step can throw it far from there
     * (docs/method.md, "Sandwich training").
     */
    public static final double DEFAULT_LINEAR_LR = 1e-4;

    public static final Option<Double> RATIO = Option.real("ratio").label("R").required()
            .help("fraction of blocks to replace, 0 < R < 1: round(R x blocks), at least one")
            .check(r -> r > 0 && r < 1, r -> "ratio must be a fraction in (0, 1), got " + r).build();

    public static final Option<String> IMPORTANCE = Option.choice("importance", String.class, "importance metric",
                    orderedMap(ImportanceScorer.FD_ALIGN, ImportanceScorer.FD_ALIGN, ImportanceScorer.OUTPUT_MSE, ImportanceScorer.OUTPUT_MSE))
            .defaultValue(ImportanceScorer.FD_ALIGN)
            .help("block importance metric: fd-align generates and judges images with each block switched off; "
                    + "output-mse, the cheap one, compares the transformer's outputs").build();

    public static final Option<Path> IMPORTANCE_FROM = Option.path("importance-from").defaultText("none")
            .help("rank the blocks by a saved importance.json instead of scoring them").build();

    public static final Option<Order> ORDER = Option.choice("order", Order.class, "order",
                    orderedMap("importance", Order.IMPORTANCE, "start2end", Order.START2END, "end2start", Order.END2START))
            .defaultValue(Order.IMPORTANCE)
            .help("replacement order: importance replaces the least important block first").build();

    public static final Option<Replacement.Mode> MODE = Option.choice("mode", Replacement.Mode.class, "mode",
                    orderedMap("linear", Replacement.Mode.LINEAR, "delete", Replacement.Mode.DELETE))
            .defaultValue(Replacement.Mode.LINEAR)
            .help("linear: the residual branch becomes a least-squares linear (BRLL); delete: the shortcut alone").build();

    public static final Option<Boolean> SANDWICH_TRAINING = Option.flag("sandwich-training").defaultValue(true)
            .renamedFrom("--no-st", false, "--no-sandwich-training")
            .help("fine-tune each replaced block's sandwich (paper §3.2); --no-sandwich-training keeps the "
                    + "least-squares linears as fitted").build();

    public static final Option<Integer> SANDWICH = Option.integer("sandwich").label("W").defaultValue(3)
            .formerKey("sandwich_width")
            .check(w -> w == 1 || w == 3 || w == 5, w -> "sandwich width must be 1, 3 or 5, got " + w)
            .help("sandwich width: 1 = the linear alone, 3 = the nearest kept block each side, 5 = two each side").build();

    public static final Option<Integer> CALIB_PROMPTS = Option.integer("calib-prompts").defaultValue(Calibration.Options.DEFAULT_PROMPTS)
            .check(n -> n >= 1, n -> "calibration prompts must be at least 1, got " + n)
            .help("calibration prompts from the grammar, each with 2 noise seeds").build();

    public static final Option<Integer> CALIB_STEPS = Option.integer("calib-steps").defaultValue(10)
            .renamedFrom("--steps", true, "--calib-steps")
            .check(n -> n >= 1, n -> "calibration sampler steps must be at least 1, got " + n)
            .help("sampler steps of the calibration trajectories").build();

    public static final Option<Integer> ST_STEPS = Option.integer("st-steps").defaultValue(150)
            .check(n -> n >= 0, n -> "sandwich-training steps must be 0 or more, got " + n)
            .help("sandwich-training steps per block").build();

    public static final Option<Integer> ST_BATCH = Option.integer("st-batch").label("N").defaultValue(16)
            .check(n -> n >= 1, n -> "sandwich-training batch must be at least 1 pair, got " + n)
            .help("sandwich-training pairs per optimiser step").build();

    public static final Option<Integer> ST_MICRO_BATCH = Option.integer("st-micro-batch").label("M").defaultValue(0)
            .check(n -> n >= 0, n -> "sandwich-training micro-batch must be 0 or more pairs, got " + n)
            .help("pairs per forward and backward within a sandwich-training step, their gradients summed (0: the whole "
                    + "step at once, or where that does not fit the devices, the largest micro-batch that does, chosen by "
                    + "the plan when the job starts); the training memory is one micro-batch's activations (docs/plan.md)").build();

    public static final Option<Double> LR = Option.real("lr").defaultValue(1e-3)
            .check(x -> x > 0, x -> "learning rate must be positive, got " + x)
            .help("sandwich-training learning rate of the LoRA adapters, AdamW").build();

    public static final Option<Double> LINEAR_LR = Option.real("linear-lr").defaultValue(DEFAULT_LINEAR_LR)
            .check(x -> x >= 0, x -> "the linears' learning rate must be 0 or more, got " + x)
            .help("sandwich-training learning rate of the replaced blocks' linears, which start at their least-squares "
                    + "optimum; 0 keeps them as fitted").build();

    public static final Option<Integer> LORA_RANK = Option.integer("lora-rank").label("R").defaultValue(DEFAULT_LORA_RANK)
            .check(r -> r >= 1, r -> "LoRA rank must be at least 1, got " + r)
            .help("rank of the neighbours' LoRA adapters: 2 is 1.6 % of the Shapes width; for FLUX.1's 3072 something "
                    + "like 32").build();

    public static final Option<Float> LORA_ALPHA = Option.single("lora-alpha").label("A").defaultValue((float) DEFAULT_LORA_RANK)
            .check(a -> a > 0, a -> "LoRA alpha must be positive, got " + a)
            .help("LoRA alpha; the adapters' scale is alpha / rank").build();

    public static final Option<Long> BUFFER_BYTES = Option.whole("buffer-bytes").label("BYTES").defaultValue(256L << 20)
            .resourceOnly()
            .check(b -> b >= 0, b -> "buffer-bytes must be 0 or more, got " + b)
            .help("bytes of sandwich pairs held in memory; the rest spill to a file under the output directory "
                    + "(the values are the same either way)").build();

    public static final Option<Long> WINDOW_BYTES = Option.whole("window-bytes").label("BYTES").defaultValue(256L << 20)
            .check(b -> b >= 0, b -> "window-bytes must be 0 or more, got " + b)
            .help("bytes of sandwich pairs the trainer may hold back to shuffle its first pass over the calibration "
                    + "stream, which runs at most that far ahead of training; at the default every pair of the Shapes "
                    + "job, so its first pass is a full shuffle (docs/streams.md, \"The sandwich trainer\")").build();

    public static final Option<Long> SPILL_BYTES = Option.whole("spill-bytes").label("BYTES").defaultValue(8L << 30)
            .check(b -> b >= 0, b -> "spill-bytes must be 0 or more, got " + b)
            .help("bytes of sandwich pairs the trainer keeps on disk beyond buffer-bytes for its further passes; when "
                    + "the pairs exceed both, further passes train on a seeded uniform sample of them (docs/streams.md, "
                    + "\"The sandwich trainer\")").build();

    public static final Option<Integer> LSQ_CHECKPOINT_EVERY = Option.integer("lsq-checkpoint-every").label("N")
            .defaultValue(200).resourceOnly()
            .check(n -> n >= 0, n -> "lsq-checkpoint-every must be 0 or more, got " + n)
            .help("save the least-squares sums every N calibration batches (state/lsq), so a killed collection resumes "
                    + "there with the same sums; 0: only after the fit").build();

    public static final Option<Long> SEED = Option.whole("seed").label("S").defaultValue(0L)
            .help("seed of the calibration prompts, adapter initialisation and training batches").build();

    /** The method's options in the saved state's order. */
    public static final List<Option<?>> ALL = List.of(RATIO, IMPORTANCE, IMPORTANCE_FROM, ORDER, MODE, SANDWICH_TRAINING,
            SANDWICH, CALIB_PROMPTS, CALIB_STEPS, ST_STEPS, LR, LINEAR_LR, LORA_RANK, LORA_ALPHA, BUFFER_BYTES,
            WINDOW_BYTES, SPILL_BYTES, LSQ_CHECKPOINT_EVERY, SEED, ST_BATCH, ST_MICRO_BATCH);

    /**
     * Options added after states were first saved, whose default does what runs before them did (for the Shapes job):
     * a saved state without one compares as if it held the default.
     */
    private static final Set<Option<?>> ADDED_LATER = Set.of(WINDOW_BYTES, SPILL_BYTES, ST_BATCH, ST_MICRO_BATCH);

    /** The options only sandwich training reads: a run without it gives the same model whatever they are. */
    public static final List<Option<?>> TRAINING = List.of(SANDWICH, ST_STEPS, LR, LINEAR_LR, LORA_RANK, LORA_ALPHA, BUFFER_BYTES,
            WINDOW_BYTES, SPILL_BYTES, ST_BATCH, ST_MICRO_BATCH);

    private final OptionValues values;

    private PruneOptions(OptionValues values) {
        this.values = values.requireComplete(Option::name, "");
    }

    /** The defaults at {@code ratio}. */
    public static PruneOptions defaults(double ratio) {
        return new PruneOptions(OptionValues.defaults(ALL).with(RATIO, ratio));
    }

    /** The method's share of a job's values ({@link JobOptions#ALL}). */
    public static PruneOptions of(OptionValues jobValues) {
        return new PruneOptions(jobValues.select(ALL));
    }

    public <T> T get(Option<T> o) {
        return values.get(o);
    }

    /** The same options with {@code o} set to {@code value}; throws IllegalArgumentException when it is out of range. */
    public <T> PruneOptions with(Option<T> o, T value) {
        return new PruneOptions(values.with(o, value));
    }

    public double ratio() {
        return get(RATIO);
    }

    public String importance() {
        return get(IMPORTANCE);
    }

    /** A saved ranking to use, or null: the run scores the blocks. */
    public Path importanceFrom() {
        return get(IMPORTANCE_FROM);
    }

    public Order order() {
        return get(ORDER);
    }

    public Replacement.Mode mode() {
        return get(MODE);
    }

    public boolean sandwichTraining() {
        return get(SANDWICH_TRAINING);
    }

    public int sandwichWidth() {
        return get(SANDWICH);
    }

    public int calibPrompts() {
        return get(CALIB_PROMPTS);
    }

    public int calibSteps() {
        return get(CALIB_STEPS);
    }

    public int stBatch() {
        return get(ST_BATCH);
    }

    public int stMicroBatch() {
        return get(ST_MICRO_BATCH);
    }

    public int stSteps() {
        return get(ST_STEPS);
    }

    public double lr() {
        return get(LR);
    }

    public double linearLr() {
        return get(LINEAR_LR);
    }

    public int loraRank() {
        return get(LORA_RANK);
    }

    public float loraAlpha() {
        return get(LORA_ALPHA);
    }

    public long bufferBytes() {
        return get(BUFFER_BYTES);
    }

    public long windowBytes() {
        return get(WINDOW_BYTES);
    }

    public long spillBytes() {
        return get(SPILL_BYTES);
    }

    public int lsqCheckpointEvery() {
        return get(LSQ_CHECKPOINT_EVERY);
    }

    public long seed() {
        return get(SEED);
    }

    /** As saved in the state and report: one key per option, its name. */
    public JsonObject toJson() {
        return values.toJson();
    }

    /** Options saved by {@link #toJson}, or by an older version in snake_case; an absent key is the default. */
    public static PruneOptions fromJson(JsonObject json) {
        return new PruneOptions(OptionValues.fromJson(ALL, json));
    }

    /**
     * Saved options in today's spelling: each option's key renamed to its name and its value written as
     * {@link #toJson} writes it; other keys (a job's calibration file) only renamed to kebab-case. Keys absent stay
     * absent: an old state without an option was run with whatever that option's effect was then.
     */
    public static JsonObject canonical(JsonObject saved) {
        JsonObject out = new JsonObject();
        for (Map.Entry<String, JsonElement> e : saved.entrySet()) {
            Option<?> o = OptionValues.find(ALL, e.getKey());
            String key = o == null ? Option.kebab(e.getKey()) : o.name();
            if (out.has(key)) throw new IllegalArgumentException("saved options name " + key + " twice: " + saved);
            out.add(key, o == null ? e.getValue() : normal(o, e.getValue()));
        }
        return out;
    }

    private static <T> JsonElement defaultJson(Option<T> o) {
        return o.toJson(o.defaultValue());
    }

    private static <T> JsonElement normal(Option<T> o, JsonElement e) {
        return o.toJson(o.fromJson(e));
    }

    /**
     * What differs between saved options and a run's, each as {@code key saved, now}, after {@link #canonical}: the
     * check a resumed run makes. Options that cannot change the model ({@link Option#affectsResult}) are left out.
     */
    public static List<String> differences(JsonObject saved, JsonObject now) {
        JsonObject a = canonical(saved), b = canonical(now);
        Set<String> keys = new LinkedHashSet<>(a.keySet());
        keys.addAll(b.keySet());
        List<String> differ = new ArrayList<>();
        for (String k : keys) {
            Option<?> o = OptionValues.find(ALL, k);
            if (o != null && !o.affectsResult()) continue;
            JsonElement x = a.get(k), y = b.get(k);
            if (x == null && ADDED_LATER.contains(o)) x = defaultJson(o);
            if (x == null || !x.equals(y)) differ.add(k + " " + (x == null ? "(absent)" : x) + ", now " + (y == null ? "(absent)" : y));
        }
        return differ;
    }

    /** A rate or scale as people write it in help and reports: {@code 0.0001}, {@code 2}, not {@code 1.0E-4}, {@code 2.0}. */
    public static String plain(double x) {
        if (!Double.isFinite(x)) return Double.toString(x);
        return java.math.BigDecimal.valueOf(x).stripTrailingZeros().toPlainString();
    }

    /** {@link #plain(double)} for a float, by its own shortest text: {@code 0.3f} is {@code 0.3}. */
    public static String plain(float x) {
        if (!Float.isFinite(x)) return Float.toString(x);
        return new java.math.BigDecimal(Float.toString(x)).stripTrailingZeros().toPlainString();
    }

    private static <T> Map<String, T> orderedMap(String k1, T v1, String k2, T v2) {
        Map<String, T> m = new LinkedHashMap<>();
        m.put(k1, v1);
        m.put(k2, v2);
        return m;
    }

    private static <T> Map<String, T> orderedMap(String k1, T v1, String k2, T v2, String k3, T v3) {
        Map<String, T> m = orderedMap(k1, v1, k2, v2);
        m.put(k3, v3);
        return m;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PruneOptions p && values.equals(p.values);
    }

    @Override
    public int hashCode() {
        return values.hashCode();
    }

    @Override
    public String toString() {
        return values.toString();
    }
}
