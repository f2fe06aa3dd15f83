package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.model.BlockTap;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.Streams;
import fastflux.sampling.EulerSampler;
import fastflux.sampling.Schedule;
import java.util.Arrays;

/**
 * The calibration stream of BRLL and of the importance probes: the current model's own guided denoising
 * trajectories, prompts × noise seeds × timesteps, computed batch by batch and never stored whole.
 *
 * <p>Items are (prompt p, noise seed s) pairs, item k = (k / S, seeds[k % S]), cut into consecutive batches
 * of {@link Options#batchSize()} items. Each batch opens its own manager, draws its noise, runs the same guided
 * Euler loop as generation (the world's sampler: {@link Schedule} and {@link EulerSampler}, classifier-
 * free guidance {@code v(∅) + g·(v(c) − v(∅))} with both halves in one batch; a guidance-embedded config gets
 * {@code g} as its guidance input instead) and closes the manager before the next batch opens: memory is
 * bounded by one batch, whatever the number of prompts ({@link #openBatches()} is 0 or 1).
 */
public final class Calibration {
    /**
     * @param batchSize items (prompt, seed) per batch
     * @param seeds noise seeds; each prompt is run once per seed
     * @param steps sampler steps
     * @param guidance guidance scale (1 = unguided)
     */
    public record Options(int batchSize, long[] seeds, int steps, float guidance) {
        public static final int DEFAULT_PROMPTS = 64;
        public static final long DEFAULT_PROMPT_SEED = 20_250_601L;
        public static final long[] DEFAULT_SEEDS = {0, 1};
        /** The sampler of the embedded Shapes model: 20 steps at guidance 4 (a job sets its own steps). */
        public static final int DEFAULT_STEPS = 20;
        public static final float DEFAULT_GUIDANCE = 4f;

        public Options {
            if (batchSize <= 0) throw new IllegalArgumentException("batchSize must be positive, got " + batchSize);
            if (seeds == null || seeds.length == 0) throw new IllegalArgumentException("at least one noise seed is needed");
            if (steps < 1) throw new IllegalArgumentException("steps must be >= 1, got " + steps);
            if (!(guidance > 0)) throw new IllegalArgumentException("guidance must be positive, got " + guidance);
            seeds = seeds.clone();
        }

        /** 8 items a batch, seeds {0, 1}, the generation defaults' steps and guidance. */
        public static Options defaults() {
            return new Options(8, DEFAULT_SEEDS, DEFAULT_STEPS, DEFAULT_GUIDANCE);
        }

        @Override
        public long[] seeds() {
            return seeds.clone();
        }

        public Options withSteps(int s) {
            return new Options(batchSize, seeds, s, guidance);
        }

        public Options withBatchSize(int b) {
            return new Options(b, seeds, steps, guidance);
        }

        public Options withSeeds(long[] s) {
            return new Options(batchSize, s, steps, guidance);
        }
    }

    /** One batch of items; its arrays (noise, conditioning) live exactly while {@link #isOpen()}. */
    public static final class Batch {
        private final int index;
        private final int[] prompts;
        private final long[] noiseSeeds;
        private final NDManager manager;

        /**
         * A batch whose arrays live in {@code manager}; {@link #run} makes them, and so does a runner that computes
         * the trajectories elsewhere and replays them to a consumer (the streams pipeline).
         */
        public Batch(int index, int[] prompts, long[] noiseSeeds, NDManager manager) {
            this.index = index;
            this.prompts = prompts;
            this.noiseSeeds = noiseSeeds;
            this.manager = manager;
        }

        public int index() {
            return index;
        }

        /** Prompt index of each item. */
        public int[] prompts() {
            return prompts.clone();
        }

        /** The noise seed each item's latents were drawn from. */
        public long[] noiseSeeds() {
            return noiseSeeds.clone();
        }

        public int size() {
            return prompts.length;
        }

        public boolean isOpen() {
            return manager.isOpen();
        }
    }

    /**
     * One sampler step of a batch: the transformer call's inputs (2B rows under classifier-free guidance,
     * conditional half first), the step's manager (arrays a consumer makes here should be attached to it), and
     * how many rows are conditional.
     */
    public record Step(Batch batch, int step, float t, FluxInputs inputs, int conditionalRows, NDManager scope,
                       NDArray vec, NDArray ids) {
        /** A step of an in-process run: the conditioning vector and ids are derived from the inputs on demand. */
        public Step(Batch batch, int step, float t, FluxInputs inputs, int conditionalRows, NDManager scope) {
            this(batch, step, t, inputs, conditionalRows, scope, null, null);
        }

        /**
         * The conditional rows' conditioning vector [b, H]: the one a pipeline shipped with the step's activations,
         * or {@code model.vec} of the step's inputs.
         */
        public NDArray conditionalVec(FluxModel model) {
            return vec != null ? vec : model.vec(inputs).get("0:" + conditionalRows);
        }

        /** The conditional rows' position ids [b, L_txt + L_img, axes], text first, as the blocks see them. */
        public NDArray conditionalIds() {
            if (ids != null) return ids;
            String rows = "0:" + conditionalRows;
            return inputs.txtIds().get(rows).concat(inputs.imgIds().get(rows), 1);
        }
    }

    private final FluxModel model;
    private final CalibrationSource source;
    private final Options options;
    private int open;

    public Calibration(FluxModel model, CalibrationSource source, Options options) {
        this.model = model;
        this.source = source;
        this.options = options;
        if (source.latentChannels() != model.config().inChannels()) {
            throw new IllegalArgumentException("source latents have " + source.latentChannels()
                    + " channels but the model's in_channels is " + model.config().inChannels());
        }
    }

    public FluxModel model() {
        return model;
    }

    public CalibrationSource source() {
        return source;
    }

    public Options options() {
        return options;
    }

    /** Items (prompt, seed) of prompts [0, size). */
    public int items() {
        return source.size() * options.seeds.length;
    }

    /** Batches of a run over prompts [from, to). */
    public int batches(int fromPrompt, int toPrompt) {
        int items = (toPrompt - fromPrompt) * options.seeds.length;
        return (items + options.batchSize - 1) / options.batchSize;
    }

    /** The (prompt, noise seed) items of one batch: what a run computes there, whoever runs it. */
    public record Items(int[] prompts, long[] noiseSeeds) {}

    /** The items of batch {@code bi} of a run over prompts [fromPrompt, toPrompt). */
    public Items items(int bi, int fromPrompt, int toPrompt) {
        int seedsPer = options.seeds.length;
        int items = (toPrompt - fromPrompt) * seedsPer;
        int s = bi * options.batchSize;
        int e = Math.min(items, s + options.batchSize);
        int[] prompts = new int[e - s];
        long[] noise = new long[e - s];
        for (int k = s; k < e; k++) {
            prompts[k - s] = fromPrompt + k / seedsPer;
            noise[k - s] = noiseSeed(prompts[k - s], options.seeds[k % seedsPer]);
        }
        return new Items(prompts, noise);
    }

    /**
     * Whether the sampler runs classifier-free guidance (both halves in one batch, conditional first): guidance
     * other than 1 on a model without a guidance embedding.
     */
    public boolean classifierFree() {
        return !model.config().guidanceEmbed() && options.guidance != 1f;
    }

    /** Batches currently holding arrays: 0 between batches, 1 inside one. */
    public int openBatches() {
        return open;
    }

    public void run(CalibrationConsumer consumer) {
        run(consumer, 0, source.size());
    }

    /**
     * Streams prompts [fromPrompt, toPrompt) through {@code consumer}. Batch indices count from 0 within the
     * run; noise depends only on (prompt index, seed), so two runs over the halves of the prompts see the same
     * trajectories as one run over all of them.
     */
    public void run(CalibrationConsumer consumer, int fromPrompt, int toPrompt) {
        if (fromPrompt < 0 || toPrompt > source.size() || fromPrompt > toPrompt) {
            throw new IllegalArgumentException("prompt range [" + fromPrompt + ", " + toPrompt + ") outside [0, "
                    + source.size() + ")");
        }
        int nb = batches(fromPrompt, toPrompt);
        try (NDManager root = NDManager.newBaseManager()) {
            for (int bi = 0; bi < nb; bi++) {
                if (!consumer.wants(bi)) {
                    continue;
                }
                Items it = items(bi, fromPrompt, toPrompt);
                if (open != 0) {
                    throw new IllegalStateException("a calibration batch is still open");
                }
                try (NDManager bm = root.newSubManager()) {
                    open++;
                    Batch batch = new Batch(bi, it.prompts(), it.noiseSeeds(), bm);
                    consumer.beginBatch(batch);
                    runBatch(batch, bm, consumer);
                    consumer.endBatch(batch);
                    PruneMetrics.calibrationItems(batch.size());
                } finally {
                    open--;
                }
            }
        }
    }

    /** The noise seed of (prompt, seed): distinct prompts get distinct noise, deterministic in both. */
    public static long noiseSeed(int prompt, long seed) {
        long z = seed * 0x9E3779B97F4A7C15L + prompt;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private void runBatch(Batch batch, NDManager bm, CalibrationConsumer consumer) {
        int b = batch.size();
        boolean cfg = classifierFree();
        CalibrationSource.Conditioning c = conditioning(batch.prompts, bm);
        NDArray x = EulerSampler.noise(batch.noiseSeeds, source.latentTokens(), source.latentChannels(), bm);
        int[] stepIndex = {0};
        NDArray out = EulerSampler.sample(x, schedule(), (xt, t, scope) -> {
            FluxInputs in = inputs(c, xt, t, scope);
            Step step = new Step(batch, stepIndex[0]++, t, in, b, scope);
            consumer.onStep(step);
            BlockTap tap = consumer.tap(step);
            return guide(model.forward(in, cfg ? conditionalHalf(tap, b) : tap));
        }, null);
        out.close();
    }

    /** The sampler's timesteps for this source's latent size (shifted or not). */
    float[] schedule() {
        return Schedule.timesteps(options.steps, source.latentTokens(), source.shiftSchedule());
    }

    /** The conditioning of {@code prompts} under this stream's guidance, made in {@code m} (see the static form). */
    CalibrationSource.Conditioning conditioning(int[] prompts, NDManager m) {
        return conditioning(source, prompts, classifierFree(), options.guidance, m);
    }

    /**
     * The conditioning of {@code prompts}, made in {@code m}; under classifier-free guidance ({@code cfg}) the
     * unconditional rows follow the conditional ones, and a source without them is an error naming the way out.
     */
    public static CalibrationSource.Conditioning conditioning(CalibrationSource source, int[] prompts, boolean cfg,
                                                              float guidance, NDManager m) {
        CalibrationSource.Conditioning cond = source.condition(prompts, m);
        if (!cfg) return cond;
        CalibrationSource.Conditioning un = source.unconditional(prompts.length, m);
        if (un == null) {
            throw new IllegalArgumentException("guidance " + guidance + " needs classifier-free guidance, but "
                    + source.describe() + " has no unconditional embeddings (neg_txt, neg_y); use guidance 1");
        }
        return new CalibrationSource.Conditioning(cond.txt().concat(un.txt(), 0), cond.y().concat(un.y(), 0),
                cond.txtIds().concat(un.txtIds(), 0), cond.imgIds().concat(un.imgIds(), 0));
    }

    /**
     * One sampler step's transformer inputs for the latents {@code xt} [B, L, C] at time {@code t}: both halves under
     * classifier-free guidance, the guidance scale as input on a guidance-embedded config. The conditioning is
     * temp-attached to the step's {@code scope}, so everything derived from it is freed with the step.
     */
    FluxInputs inputs(CalibrationSource.Conditioning c, NDArray xt, float t, NDManager scope) {
        for (NDArray a : c.arrays()) a.tempAttach(scope);
        boolean cfg = classifierFree();
        NDArray xin = cfg ? xt.concat(xt, 0) : xt;
        long rows = xin.getShape().get(0);
        NDArray tv = scope.full(new Shape(rows), t);
        NDArray g = model.config().guidanceEmbed() ? scope.full(new Shape(rows), options.guidance) : null;
        return new FluxInputs(xin, c.imgIds(), c.txt(), c.txtIds(), tv, c.y(), g);
    }

    /** The sampler's velocity from a transformer output on {@link #inputs}: guided under classifier-free guidance. */
    NDArray guide(NDArray v) {
        return classifierFree() ? EulerSampler.guided(v, options.guidance) : v;
    }

    /** Shows {@code tap} rows [0, b) only: the conditional half of a classifier-free-guided batch. */
    static BlockTap conditionalHalf(BlockTap tap, int b) {
        if (tap == BlockTap.NONE) {
            return tap;
        }
        String rows = "0:" + b;
        return new BlockTap() {
            @Override
            public void doubleBlock(int index, Streams in, Streams out) {
                tap.doubleBlock(index, new Streams(in.img().get(rows), in.txt().get(rows)),
                        new Streams(out.img().get(rows), out.txt().get(rows)));
            }

            @Override
            public void singleBlock(int index, NDArray in, NDArray out) {
                tap.singleBlock(index, in.get(rows), out.get(rows));
            }
        };
    }

    @Override
    public String toString() {
        return "Calibration[" + source.describe() + ", seeds=" + Arrays.toString(options.seeds) + ", steps="
                + options.steps + ", guidance=" + options.guidance + ", batch=" + options.batchSize + "]";
    }
}
