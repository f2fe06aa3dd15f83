package fastflux.shapes;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.Param;
import fastflux.model.Tensors;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import fastflux.sampling.Schedule;
import fastflux.train.AdamW;
import fastflux.train.Ema;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Trains the Shapes model with rectified flow in FLUX's convention: {@code x_t = (1 − t)·x0 + t·noise}, the
 * model predicts {@code noise − x0}, t is logit-normal around the sampler's shift. AdamW, gradient clipping,
 * EMA, prompt dropout (the empty prompt, for classifier-free guidance). Every random draw of step k comes from
 * a generator seeded by (seed, k), so a run resumed from a checkpoint repeats the uninterrupted run's losses
 * exactly.
 */
public final class TinyTrainer {
    /**
     * Training options. The learning rate warms up linearly over {@code warmup} steps, stays at {@code lr}, and
     * over the last {@code decayFraction} of {@code totalSteps} falls along a half cosine to zero (no decay when
     * decayFraction is 0). Every {@code validateEvery} steps (0 = never) the EMA model is judged on
     * {@code validationPrompts} prompts drawn from the grammar with their own seed, and the model files in the
     * output directory are the best EMA model so far by that score. t is drawn as {@code sigmoid(timeShift + z)},
     * z standard normal: with {@code timeShift} = the sampler's {@code mu} (the default) training sees the noise
     * levels in the proportions the shifted schedule visits them, as FLUX trains; 0 centres t on 0.5 (state files
     * from before the option have no field and read as 0). {@code textContext} gives a fresh model's text encoder
     * the context window ({@link TextEncoder}; default on, state files from before it read as off; a resumed run
     * keeps what its checkpoint has).
     */
    public record Options(int batch, double lr, int warmup, double weightDecay, double clip, double emaDecay,
                          double promptDropout, long seed, int checkpointEvery, long totalSteps, double decayFraction,
                          int validateEvery, int validationPrompts, double timeShift, boolean textContext) {
        public Options {
            if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
            if (!(lr > 0)) throw new IllegalArgumentException("lr must be > 0, got " + lr);
            if (decayFraction < 0 || decayFraction > 1) {
                throw new IllegalArgumentException("decay fraction must be in [0, 1], got " + decayFraction);
            }
            if (!Double.isFinite(timeShift)) throw new IllegalArgumentException("time shift must be finite, got " + timeShift);
            if (validateEvery < 0) throw new IllegalArgumentException("validate-every must be >= 0, got " + validateEvery);
            if (validateEvery > 0 && validationPrompts < Category.values().length) {
                throw new IllegalArgumentException("validation needs at least one prompt per category ("
                        + Category.values().length + "), got " + validationPrompts);
            }
        }

        public static Options defaults() {
            return new Options(32, 7e-4, 200, 0.01, 1.0, 0.999, 0.1, 1234, 100, 2000, 0.4, 400, 60,
                    Schedule.mu(Latents.TOKENS), true);
        }

        /** A builder starting from these options. */
        public Builder toBuilder() {
            return new Builder(this);
        }

        /** Sets fields one by one; {@link #build} checks them together. */
        public static final class Builder {
            private int batch;
            private double lr;
            private int warmup;
            private double weightDecay;
            private double clip;
            private double emaDecay;
            private double promptDropout;
            private long seed;
            private int checkpointEvery;
            private long totalSteps;
            private double decayFraction;
            private int validateEvery;
            private int validationPrompts;
            private double timeShift;
            private boolean textContext;

            private Builder(Options o) {
                batch = o.batch;
                lr = o.lr;
                warmup = o.warmup;
                weightDecay = o.weightDecay;
                clip = o.clip;
                emaDecay = o.emaDecay;
                promptDropout = o.promptDropout;
                seed = o.seed;
                checkpointEvery = o.checkpointEvery;
                totalSteps = o.totalSteps;
                decayFraction = o.decayFraction;
                validateEvery = o.validateEvery;
                validationPrompts = o.validationPrompts;
                timeShift = o.timeShift;
                textContext = o.textContext;
            }

            public Builder batch(int v) {
                batch = v;
                return this;
            }

            public Builder lr(double v) {
                lr = v;
                return this;
            }

            public Builder warmup(int v) {
                warmup = v;
                return this;
            }

            public Builder weightDecay(double v) {
                weightDecay = v;
                return this;
            }

            public Builder clip(double v) {
                clip = v;
                return this;
            }

            public Builder emaDecay(double v) {
                emaDecay = v;
                return this;
            }

            /** The share of prompts dropped, for classifier-free guidance. */
            public Builder promptDropout(double v) {
                promptDropout = v;
                return this;
            }

            public Builder seed(long v) {
                seed = v;
                return this;
            }

            /** Steps between checkpoints. */
            public Builder checkpointEvery(int v) {
                checkpointEvery = v;
                return this;
            }

            /** The step budget, the schedule's end (0: fixed later from the time budget). */
            public Builder totalSteps(long v) {
                totalSteps = v;
                return this;
            }

            /** The share of the step budget over which the learning rate decays. */
            public Builder decayFraction(double v) {
                decayFraction = v;
                return this;
            }

            /** Validation every {@code every} steps (0: never) on {@code prompts} prompts. */
            public Builder validation(int every, int prompts) {
                validateEvery = every;
                validationPrompts = prompts;
                return this;
            }

            /** The logit-normal location of t. */
            public Builder timeShift(double v) {
                timeShift = v;
                return this;
            }

            /** Whether a fresh model's text encoder has the context window. */
            public Builder textContext(boolean v) {
                textContext = v;
                return this;
            }

            public Options build() {
                return new Options(batch, lr, warmup, weightDecay, clip, emaDecay, promptDropout, seed, checkpointEvery,
                        totalSteps, decayFraction, validateEvery, validationPrompts, timeShift, textContext);
            }
        }

        /** The first step of the decay (Long.MAX_VALUE when there is none or the budget is not fixed yet). */
        public long decayStart() {
            if (decayFraction <= 0 || totalSteps <= 0) return Long.MAX_VALUE;
            return (long) Math.ceil(totalSteps * (1 - decayFraction));
        }

        /** The learning rate of step {@code step} (0-based). */
        public double lrAt(long step) {
            double warm = Math.min(1.0, (step + 1.0) / Math.max(1, warmup));
            if (decayFraction <= 0 || totalSteps <= 0) return lr * warm;
            double start = totalSteps * (1 - decayFraction);
            if (step < start) return lr * warm;
            double progress = Math.min(1.0, (step - start) / Math.max(1.0, totalSteps - start));
            return lr * warm * 0.5 * (1 + Math.cos(Math.PI * progress));
        }

        JsonObject toJson() {
            return new Gson().toJsonTree(this).getAsJsonObject();
        }

        static Options fromJson(JsonObject o) {
            return new Gson().fromJson(o, Options.class);
        }
    }

    /** Called after every step. */
    public interface Progress {
        void step(long step, long totalSteps, double loss, double stepsPerSecond, double secondsLeft);
    }

    static final String STATE_JSON = "train-state.json";
    static final String STATE_TENSORS = "train-state.safetensors";
    static final int STATE_VERSION = 1;

    private final NDManager manager;
    private final ShapesModel model;
    private final List<Param> params;
    private final AdamW adam;
    private final Ema ema;
    private Options options;
    private final List<Float> losses = new ArrayList<>();
    private final List<Validation> validations = new ArrayList<>();
    private long step;
    private long skipped;
    private double elapsedSeconds;

    /** One validation of the EMA model: its step, training minutes so far, and the judge's overall score. */
    public record Validation(long step, double minutes, double overall) {}

    /** Validation prompts: drawn from the grammar with their own seed, never from an evaluation file. */
    static final long VALIDATION_SEED = 0x5A11DL;
    static final long VALIDATION_IMAGE_SEED = 90_000L;

    private TinyTrainer(NDManager manager, ShapesModel model, Options options) {
        this.manager = manager;
        this.model = model;
        this.options = options;
        this.params = new ArrayList<>(model.params().values());
        for (Param p : params) p.value().setRequiresGradient(true);
        this.adam = new AdamW(manager, 0.9, 0.999, 1e-8, options.weightDecay());
        this.ema = new Ema(manager, params);
    }

    /** A fresh model: PyTorch's default init, with adaLN modulations and the final projection zeroed (adaLN-Zero). */
    public static TinyTrainer fresh(FluxParams p, Options options, NDManager manager) {
        FluxModel flux = new FluxModel(p);
        flux.initRandom(manager, DataType.FLOAT32, options.seed());
        for (Param q : flux.params().values()) {
            String n = q.name();
            if (n.contains("_mod.lin.") || n.contains(".modulation.lin.") || n.startsWith("final_layer.")) {
                q.set(manager.zeros(q.shape()));
            }
        }
        TextEncoder text = new TextEncoder(p.contextInDim(), options.textContext());
        SplittableRandom r = new SplittableRandom(options.seed() ^ 0x7e57L);
        for (Param q : text.params().values()) {
            float[] v = new float[(int) q.shape().size()];
            if (q.name().startsWith(TextEncoder.PREFIX + "context.")) {
                // the window's MLP: fc1 as PyTorch initialises a Linear (U(±1/√fan_in), fan_in = 3C), fc2 zero, so
                // the encoder starts as the plain one
                double bound = q.name().contains("fc1.") ? 1 / Math.sqrt(3.0 * p.contextInDim()) : 0;
                for (int i = 0; i < v.length; i++) v[i] = (float) ((2 * r.nextDouble() - 1) * bound);
            } else {
                float std = q.name().contains("position") ? 0.1f : 1f;
                for (int i = 0; i < v.length; i++) v[i] = (float) (gaussian(r) * std);
            }
            q.set(Tensors.create(manager, v, q.shape()));
        }
        return new TinyTrainer(manager, new ShapesModel(flux, text), options);
    }

    /** Continues from the checkpoint in {@code dir} (its latest complete state). */
    public static TinyTrainer resume(Path dir, NDManager manager) {
        Path json = dir.resolve(STATE_JSON);
        if (!Files.isRegularFile(json)) throw new IllegalArgumentException(dir + " holds no training state (" + STATE_JSON + ")");
        JsonObject state;
        try {
            state = JsonParser.parseString(Files.readString(json)).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (state.get("version").getAsInt() != STATE_VERSION) {
            throw new IllegalArgumentException(json + ": unsupported state version " + state.get("version"));
        }
        ShapesModel model = ShapesModel.load(dir, manager); // EMA weights; replaced below by the raw ones
        TinyTrainer t = new TinyTrainer(manager, model, Options.fromJson(state.getAsJsonObject("options")));
        t.step = state.get("step").getAsLong();
        t.elapsedSeconds = state.get("elapsed_seconds").getAsDouble();
        for (var e : state.getAsJsonArray("losses")) t.losses.add(e.getAsFloat());
        if (state.has("validations")) {
            for (var e : state.getAsJsonArray("validations")) {
                JsonObject v = e.getAsJsonObject();
                t.validations.add(new Validation(v.get("step").getAsLong(), v.get("minutes").getAsDouble(),
                        v.get("overall").getAsDouble()));
            }
        }
        try (SafetensorsReader r = SafetensorsReader.open(dir.resolve(STATE_TENSORS))) {
            long stateStep = Long.parseLong(r.metadata().getOrDefault("step", "-1"));
            if (stateStep != t.step) {
                throw new IllegalArgumentException(dir + ": " + STATE_TENSORS + " is at step " + stateStep + " but "
                        + STATE_JSON + " at step " + t.step + " (a half-written checkpoint)");
            }
            Map<String, NDArray> m1 = new HashMap<>(), m2 = new HashMap<>();
            for (Param p : t.params) {
                if (r.contains("ema." + p.name())) {
                    try (NDArray e = r.load("ema." + p.name(), manager, DataType.FLOAT32)) {
                        t.ema.set(p.name(), e);
                    }
                } else {
                    t.ema.set(p.name(), p.value()); // a state from before the EMA was kept there: the model file is it
                }
                NDArray w = r.load("weight." + p.name(), manager, DataType.FLOAT32);
                p.set(w);
                w.setRequiresGradient(true);
                m1.put(p.name(), r.load("adam_m." + p.name(), manager, DataType.FLOAT32));
                m2.put(p.name(), r.load("adam_v." + p.name(), manager, DataType.FLOAT32));
            }
            t.adam.restore(Long.parseLong(r.metadata().get("adam_steps")), m1, m2);
            m1.values().forEach(NDArray::close);
            m2.values().forEach(NDArray::close);
        }
        return t;
    }

    /** Updates skipped because the loss or gradient was not finite. */
    public long skipped() {
        return skipped;
    }

    public long step() {
        return step;
    }

    public List<Float> losses() {
        return losses;
    }

    public Options options() {
        return options;
    }

    public List<Validation> validations() {
        return validations;
    }

    /** Sets another step budget (0 = fixed later from the time budget); the caller checks no taken step changes. */
    public void changeTotalSteps(long n) {
        options = options.toBuilder().totalSteps(n).build();
    }

    /** The best validation so far, or null before the first. */
    public Validation best() {
        Validation best = null;
        for (Validation v : validations) if (best == null || v.overall() > best.overall()) best = v;
        return best;
    }

    /**
     * Trains until {@code totalSteps} or until {@code minutes} of wall time have passed in this call
     * (whichever first; minutes ≤ 0 means no limit), checkpointing into {@code out} every
     * {@code checkpointEvery} steps and at the end.
     */
    public void train(long totalSteps, double minutes, Path out, Progress progress) {
        long began = System.nanoTime();
        long lastCheckpoint = began;
        long firstStep = step;
        double budgetSeconds = elapsedSeconds + minutes * 60; // the whole run's, when this call ends it
        while (step < (totalSteps > 0 ? totalSteps : Long.MAX_VALUE)) {
            if (totalSteps <= 0 && minutes > 0 && options.decayFraction() > 0
                    && elapsedSeconds + (System.nanoTime() - lastCheckpoint) / 1e9 >= (1 - options.decayFraction()) * budgetSeconds) {
                // A time-budgeted run: the step budget is fixed when the constant phase has used its share of the
                // time, from the rate measured so far; from here on the schedule is a function of the step again.
                totalSteps = Math.max(step + 1, (long) Math.ceil(step / (1 - options.decayFraction())));
                options = options.toBuilder().totalSteps(totalSteps).build();
            }
            float loss = trainStep();
            losses.add(loss);
            step++;
            long now = System.nanoTime();
            double secs = (now - began) / 1e9;
            double rate = (step - firstStep) / Math.max(secs, 1e-9);
            double left = totalSteps > 0 ? (totalSteps - step) / Math.max(rate, 1e-9) : Double.MAX_VALUE;
            if (minutes > 0) left = Math.min(left, minutes * 60 - secs);
            if (progress != null) progress.step(step, totalSteps, loss, rate, left);
            boolean timeUp = minutes > 0 && secs >= minutes * 60;
            boolean last = step == totalSteps || timeUp;
            boolean validate = options.validateEvery() > 0 && (step % options.validateEvery() == 0 || last);
            if (out != null && (validate || step % options.checkpointEvery() == 0 || last)) {
                if (validate) {
                    Validation v = validate(elapsedSeconds + (System.nanoTime() - lastCheckpoint) / 1e9);
                    Validation best = best();
                    validations.add(v);
                    if (best == null || v.overall() > best.overall()) exportEma(out);
                    // Every validated EMA model is kept too, so a larger held-out set can choose among them later.
                    exportEma(snapshotDir(out, step));
                    if (validationListener != null) validationListener.accept(v);
                }
                now = System.nanoTime();
                elapsedSeconds += (now - lastCheckpoint) / 1e9;
                lastCheckpoint = now;
                checkpoint(out);
            }
            if (timeUp) break;
        }
    }

    /** Where the EMA model judged at {@code step} is kept: {@code DIR/snapshots/step-NNNNNN}. */
    public static Path snapshotDir(Path out, long step) {
        return out.resolve("snapshots").resolve(String.format("step-%06d", step));
    }

    private java.util.function.Consumer<Validation> validationListener;

    /** Called after every validation (for progress output). */
    public void onValidation(java.util.function.Consumer<Validation> listener) {
        this.validationListener = listener;
    }

    /** The validation prompts: {@code n} drawn from the grammar's forms, as even across categories as n allows. */
    public static List<Prompt> validationPrompts(int n) {
        Category[] cats = Category.values();
        List<List<Prompt>> byCategory = new ArrayList<>();
        for (int i = 0; i < cats.length; i++) byCategory.add(new ArrayList<>());
        SplittableRandom r = new SplittableRandom(VALIDATION_SEED);
        int perCategory = (n + cats.length - 1) / cats.length;
        while (byCategory.stream().anyMatch(l -> l.size() < perCategory)) {
            Prompt p = ShapesWorld.samplePrompt(r);
            if (!PromptGrammar.isEvaluationForm(p.text())) continue;
            List<Prompt> l = byCategory.get(p.category().ordinal());
            if (l.size() < perCategory) l.add(p);
        }
        List<Prompt> out = new ArrayList<>();
        for (int k = 0; out.size() < n; k++) for (List<Prompt> l : byCategory) if (out.size() < n) out.add(l.get(k));
        return out;
    }

    /** Judges the EMA weights on the validation prompts (one image each, the default sampler settings). */
    Validation validate(double seconds) {
        Map<String, NDArray> raw = new HashMap<>();
        for (Param p : params) raw.put(p.name(), p.exchange(ema.weights().get(p.name())));
        try {
            Evaluation.Options o = Evaluation.Options.defaults().toBuilder().seeds(1).seedBase(VALIDATION_IMAGE_SEED)
                    .steps(ShapesModel.DEFAULT_STEPS).guidance(ShapesModel.DEFAULT_GUIDANCE).batch(32).saveImages(null).build();
            EvalReport report = Evaluation.run(model, validationPrompts(options.validationPrompts()), o, null).report();
            return new Validation(step, seconds / 60, report.overall());
        } finally {
            for (Param p : params) p.exchange(raw.get(p.name()));
        }
    }

    /** The logit-normal noise level {@code sigmoid(shift + z)} of a standard normal draw z. */
    static double noiseLevel(double z, double shift) {
        return 1 / (1 + Math.exp(-(shift + z)));
    }

    /** One optimisation step on batch {@code step}; returns its loss. */
    public float trainStep() {
        int b = options.batch();
        SplittableRandom r = new SplittableRandom(options.seed() * 0x9E3779B97F4A7C15L + step);
        int per = Latents.TOKENS * Latents.CHANNELS;
        float[] x0 = new float[b * per], noise = new float[b * per], t = new float[b];
        List<String> prompts = new ArrayList<>(b);
        for (int i = 0; i < b; i++) {
            Example ex = ShapesWorld.sampleExample(r.split());
            System.arraycopy(Latents.pack(ex.image().toModelInput()), 0, x0, i * per, per);
            prompts.add(r.nextDouble() < options.promptDropout() ? "" : ex.prompt());
            t[i] = (float) noiseLevel(gaussian(r), options.timeShift());
            for (int j = 0; j < per; j++) noise[i * per + j] = (float) gaussian(r);
        }
        float loss;
        try (NDManager s = manager.newSubManager()) {
            Shape shape = new Shape(b, Latents.TOKENS, Latents.CHANNELS);
            NDArray clean = Tensors.create(s, x0, shape);
            NDArray eps = Tensors.create(s, noise, shape);
            NDArray tv = Tensors.create(s, t, new Shape(b));
            NDArray tb = tv.reshape(b, 1, 1);
            NDArray xt = clean.mul(Tensors.add(tb.neg(), 1f)).add(eps.mul(tb));
            NDArray target = eps.sub(clean);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                fastflux.world.World.Conditioning c = model.condition(prompts, s);
                NDArray pred = model.velocity(xt, tv, c);
                NDArray l = pred.sub(target).square().mean();
                gc.backward(l);
                loss = l.getFloat();
            }
            double lr = options.lrAt(step);
            double norm = AdamW.gradNorm(params);
            if (Float.isFinite(loss) && Double.isFinite(norm)) {
                adam.step(params, lr, options.clip());
            } else {
                // A non-finite loss or gradient would poison the weights: skip this update, as mixed-precision
                // trainers do, and count it.
                AdamW.zeroGradients(params);
                skipped++;
                org.slf4j.LoggerFactory.getLogger(TinyTrainer.class).warn("step {}: non-finite loss {} or gradient norm {}; update skipped", step, loss, norm);
            }
            ema.update(params, Ema.decayAt(options.emaDecay(), step));
        }
        return loss;
    }

    /** The EMA weights as a Shapes model directory plus the exact training state, each file temp + rename. */
    public void checkpoint(Path out) {
        try {
            Files.createDirectories(out);
            SafetensorsWriter state = new SafetensorsWriter()
                    .metadata("step", Long.toString(step))
                    .metadata("adam_steps", Long.toString(adam.steps()));
            for (Param p : params) {
                state.add("weight." + p.name(), p.value(), DType.F32);
                state.add("adam_m." + p.name(), adam.firstMoments().get(p.name()), DType.F32);
                state.add("adam_v." + p.name(), adam.secondMoments().get(p.name()), DType.F32);
                state.add("ema." + p.name(), ema.weights().get(p.name()), DType.F32);
            }
            state.write(out.resolve(STATE_TENSORS));
            // With validation the model files hold the best EMA model so far (written when it improves); until
            // the first validation, and without validation, the latest.
            if (options.validateEvery() == 0 || validations.isEmpty()) exportEma(out);
            JsonObject json = new JsonObject();
            json.addProperty("version", STATE_VERSION);
            json.addProperty("step", step);
            json.addProperty("elapsed_seconds", elapsedSeconds);
            json.add("options", options.toJson());
            JsonArray ls = new JsonArray();
            for (float l : losses) ls.add(l);
            json.add("losses", ls);
            JsonArray vs = new JsonArray();
            for (Validation v : validations) {
                JsonObject o = new JsonObject();
                o.addProperty("step", v.step());
                o.addProperty("minutes", v.minutes());
                o.addProperty("overall", v.overall());
                vs.add(o);
            }
            json.add("validations", vs);
            Path tmp = out.resolve(STATE_JSON + ".tmp");
            Files.writeString(tmp, new GsonBuilder().create().toJson(json));
            Files.move(tmp, out.resolve(STATE_JSON), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint to " + out, e);
        }
    }

    /** Writes the EMA weights as a loadable Shapes model (config.json + model.safetensors). */
    public void exportEma(Path dir) {
        Map<String, NDArray> raw = new HashMap<>();
        for (Param p : params) raw.put(p.name(), p.exchange(ema.weights().get(p.name())));
        try {
            model.save(dir);
        } finally {
            for (Param p : params) p.exchange(raw.get(p.name()));
        }
    }

    public ShapesModel model() {
        return model;
    }

    static double gaussian(SplittableRandom r) {
        // Box-Muller from the splittable generator (java.util.Random is not splittable).
        double u1 = r.nextDouble(), u2 = r.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }
}
