package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.BlockId;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.HiddenState;
import fastflux.model.Rope;
import fastflux.world.Frechet;
import fastflux.world.World;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Block importance (paper §3.2, "Calculating Block Importance"): each block's residual branch is switched off
 * in turn ({@link BlockSwap}) and the damage measured.
 *
 * <p><b>Sign convention.</b> {@link #FD_ALIGN}: with the block removed, images are generated and scored by
 * FD (lower is better) and by the judge's alignment (higher is better). Both are min–max normalised across
 * blocks and combined as Eq. 2, {@code s_i = −(α(1 − FD_norm) + β·ALIGN_norm)}. The bracket is the quality
 * that <em>remains</em> after removing block i, so s_i is low when removal leaves quality high: a low score
 * means the block matters little. Blocks are sorted by ascending s_i and replaced in that order (rank 1 =
 * least important = replaced first). A block whose removal gives a high FD and a low alignment has s_i near
 * 0, the top of the range, and is replaced last.
 *
 * <p>{@link #OUTPUT_MSE} is the cheap proxy: the mean squared change of the transformer's velocity over the
 * calibration inputs when the block is switched off; again ascending, a block whose removal changes nothing
 * (exactly identity) ranks first.
 */
public final class ImportanceScorer {
    public static final String FD_ALIGN = "fd-align";
    public static final String OUTPUT_MSE = "output-mse";
    public static final double DEFAULT_ALPHA = 0.5;
    public static final double DEFAULT_BETA = 0.5;
    /** Images of the fd-align probe, one per prompt ({@link GenerationOptions#defaults}). */
    public static final int DEFAULT_PROMPTS = 192;

    private ImportanceScorer() {}

    /**
     * The generation probe's settings: {@code prompts} of the world's prompts from {@code promptSeed} (calibration
     * prompts, not an evaluation file), image i drawn from seed {@code seedBase + i}; FD against
     * {@code referenceImages} of the world's reference images from {@code referenceSeed} (or, where the world has
     * none, the unpruned model's images of the same prompts and seeds).
     */
    public record GenerationOptions(int prompts, long promptSeed, long seedBase, int steps, float guidance, int batch,
                                                                    int referenceImages, long referenceSeed, double alpha, double beta) {
        public GenerationOptions {
            if (prompts < 2 || referenceImages < 2) {
                throw new IllegalArgumentException("FD needs at least 2 generated and reference images, got " + prompts
                        + " and " + referenceImages);
            }
            if (steps < 1 || batch < 1) throw new IllegalArgumentException("steps and batch must be >= 1");
            if (alpha < 0 || beta < 0 || alpha + beta == 0) {
                throw new IllegalArgumentException("alpha, beta must be >= 0 and not both 0");
            }
        }

        /**
         * 192 probe images (more where the world's features need them, {@link #probeImages}) at the world's sampler settings: fewer leave the middle of the ranking to the probe's noise
         * (docs/method.md, "How many images the importance probe needs").
         */
        public static GenerationOptions defaults(World<?> world) {
            return new Builder(probeImages(world), Calibration.Options.DEFAULT_PROMPT_SEED + 1, 0, world.defaultSteps(),
                    world.defaultGuidance(), 16, Math.max(256, probeImages(world)), 99, DEFAULT_ALPHA, DEFAULT_BETA).build();
        }

        /**
         * The count the world was asked for ({@link World#probeImages}), else {@value #DEFAULT_PROMPTS} images, or one more than the world's feature dimension where that is larger: the
         * Fréchet distance's covariance needs more images than dimensions (768 for CLIP ViT-L/14's embeddings).
         */
        static int probeImages(World<?> world) {
            if (world.probeImages() > 0) return world.probeImages();
            return Math.max(DEFAULT_PROMPTS, world.featureDim() + 1);
        }

        /** A builder starting from these options. */
        public Builder toBuilder() {
            return new Builder(prompts, promptSeed, seedBase, steps, guidance, batch, referenceImages, referenceSeed, alpha,
                    beta);
        }

        /** Sets fields one by one; {@link #build} checks them together. */
        public static final class Builder {
            private int prompts;
            private long promptSeed;
            private long seedBase;
            private int steps;
            private float guidance;
            private int batch;
            private int referenceImages;
            private long referenceSeed;
            private double alpha;
            private double beta;

            private Builder(int prompts, long promptSeed, long seedBase, int steps, float guidance, int batch,
                            int referenceImages, long referenceSeed, double alpha, double beta) {
                this.prompts = prompts;
                this.promptSeed = promptSeed;
                this.seedBase = seedBase;
                this.steps = steps;
                this.guidance = guidance;
                this.batch = batch;
                this.referenceImages = referenceImages;
                this.referenceSeed = referenceSeed;
                this.alpha = alpha;
                this.beta = beta;
            }

            /** How many of the world's prompts are drawn, and from which seed. */
            public Builder prompts(int n, long seed) {
                prompts = n;
                promptSeed = seed;
                return this;
            }

            /** Image i is drawn from seed {@code base + i}. */
            public Builder seedBase(long base) {
                seedBase = base;
                return this;
            }

            public Builder steps(int s) {
                steps = s;
                return this;
            }

            public Builder guidance(float g) {
                guidance = g;
                return this;
            }

            public Builder batch(int b) {
                batch = b;
                return this;
            }

            /** How many reference images FD is measured against, and from which seed. */
            public Builder reference(int images, long seed) {
                referenceImages = images;
                referenceSeed = seed;
                return this;
            }

            /** Eq. 2's weights of FD and alignment. */
            public Builder weights(double a, double b) {
                alpha = a;
                beta = b;
                return this;
            }

            public GenerationOptions build() {
                return new GenerationOptions(prompts, promptSeed, seedBase, steps, guidance, batch, referenceImages,
                        referenceSeed, alpha, beta);
            }
        }

        /** Checks that {@code world}'s features can be fitted from this many images. */
        void requireFeatureFit(World<?> world) {
            if (prompts < world.featureDim() || referenceImages < world.featureDim()) {
                throw new IllegalArgumentException("FD needs at least " + world.featureDim()
                        + " generated and reference images (the feature dimension), got " + prompts + " and " + referenceImages);
            }
        }
    }

    /** FD and alignment of one generated set. */
    public record Quality(double fd, double align) {}

    /** Generates the probe set with the model as it is and scores it: FD against {@code reference}, the world's alignment. */
    public static <I> Quality quality(World<I> world, List<String> prompts, long[] seeds, GenerationOptions o,
                                      Frechet.Gaussian reference) {
        List<I> images = world.generate(prompts, seeds, o.steps(), o.guidance(), o.batch());
        double align = world.meanAlignment(prompts, world.alignment(prompts, images));
        double fd = Frechet.distance(fit(world, images), reference);
        return new Quality(fd, align);
    }

    private static <I> Frechet.Gaussian fit(World<I> world, List<I> images) {
        double[][] rows = new double[images.size()][];
        for (int i = 0; i < rows.length; i++) rows[i] = world.features(images.get(i));
        return Frechet.fit(rows);
    }

    /** The paper's metric: generation with each block switched off, FD and the world's alignment, Eq. 2. */
    public static ImportanceReport byGeneration(World<?> world, GenerationOptions o) {
        return byGeneration(world, o, (done, block) -> {});
    }

    /** Told after each block is probed: how many are done and which one it was. */
    public interface BlockProgress {
        void probed(int done, BlockId block);
    }

    /**
     * Measures blocks with their residual branch switched off, one at a time: the metric's values per block, in the
     * order given. A block's values do not depend on which other blocks are measured with it, nor where: that is
     * what lets a {@link ProbeRunner} share the blocks out.
     */
    @FunctionalInterface
    public interface BlockProbe {
        double[][] measure(List<BlockId> blocks, BlockProgress progress);
    }

    /** Where a probe runs: all in this process, or shared with other machines (the daemon's fleet). */
    @FunctionalInterface
    public interface ProbeRunner {
        ProbeRunner IN_PROCESS = (blocks, probe, progress) -> probe.measure(blocks, progress);

        double[][] run(List<BlockId> blocks, BlockProbe probe, BlockProgress progress);
    }

    /** As {@link #byGeneration(World, GenerationOptions)}, reporting each probed block (one generation pass each). */
    public static ImportanceReport byGeneration(World<?> world, GenerationOptions o, BlockProgress progress) {
        return byGeneration(world, o, progress, ProbeRunner.IN_PROCESS);
    }

    /** As above, the per-block generations run by {@code runner}; the base model's own is generated here. */
    public static ImportanceReport byGeneration(World<?> world, GenerationOptions o, BlockProgress progress,
                                                ProbeRunner runner) {
        ProbeSet set = ProbeSet.of(world, o);
        Quality base = quality(world, set.prompts(), set.seeds(), o, set.reference());
        List<BlockId> blocks = BlockSwap.allBlocks(world.flux());
        double[][] v = runner.run(blocks, generationProbe(world, o, set), progress);
        double[] fd = new double[blocks.size()];
        double[] align = new double[blocks.size()];
        for (int i = 0; i < blocks.size(); i++) {
            fd[i] = v[i][0];
            align[i] = v[i][1];
        }
        double[] scores = fdAlignScores(fd, align, o.alpha(), o.beta());
        int[] ranks = ranks(scores);
        List<ImportanceReport.Entry> entries = new ArrayList<>();
        for (int i = 0; i < blocks.size(); i++) {
            entries.add(new ImportanceReport.Entry(blocks.get(i), fd[i], align[i], null, scores[i], ranks[i]));
        }
        return new ImportanceReport(FD_ALIGN, o.alpha(), o.beta(),
                world.describeSample(o.prompts(), o.promptSeed()), set.prompts().size(), set.seeds(), base.fd(), base.align(),
                entries);
    }

    /** The generation probe: per block {fd, align} of the probe set generated with that block switched off. */
    public static BlockProbe generationProbe(World<?> world, GenerationOptions o) {
        return generationProbe(world, o, ProbeSet.of(world, o));
    }

    private static BlockProbe generationProbe(World<?> world, GenerationOptions o, ProbeSet set) {
        return (blocks, progress) -> {
            double[][] out = new double[blocks.size()][];
            for (int i = 0; i < blocks.size(); i++) {
                try (BlockSwap s = BlockSwap.shortcut(world.flux(), blocks.get(i))) {
                    Quality q = quality(world, set.prompts(), set.seeds(), o, set.reference());
                    out[i] = new double[] {q.fd(), q.align()};
                }
                progress.probed(i + 1, blocks.get(i));
            }
            return out;
        };
    }

    /**
     * The probe's prompts, image i drawn from seed {@code seedBase + i}, and the FD reference: the world's reference
     * images, or the unpruned model's images of the same prompts and seeds (made here, before any block is removed).
     */
    private record ProbeSet(List<String> prompts, long[] seeds, Frechet.Gaussian reference) {
        static <I> ProbeSet of(World<I> world, GenerationOptions o) {
            o.requireFeatureFit(world);
            List<String> prompts = world.samplePrompts(o.prompts(), o.promptSeed());
            long[] seeds = new long[prompts.size()];
            for (int i = 0; i < seeds.length; i++) seeds[i] = o.seedBase() + i;
            double[][] reference = world.referenceFeatures(o.referenceImages(), o.referenceSeed());
            Frechet.Gaussian g = reference != null ? Frechet.fit(reference)
                    : fit(world, world.generate(prompts, seeds, o.steps(), o.guidance(), o.batch()));
            return new ProbeSet(prompts, seeds, g);
        }
    }

    /**
     * Eq. 2 over all blocks: {@code s_i = −(α(1 − FD_norm,i) + β·ALIGN_norm,i)}, min–max normalised across
     * blocks (a metric equal for all blocks normalises to 0). Lower = less important.
     */
    public static double[] fdAlignScores(double[] fd, double[] align, double alpha, double beta) {
        if (fd.length != align.length) throw new IllegalArgumentException("fd and align differ in length");
        double[] fn = minMax(fd);
        double[] an = minMax(align);
        double[] s = new double[fd.length];
        for (int i = 0; i < s.length; i++) s[i] = -(alpha * (1 - fn[i]) + beta * an[i]);
        return s;
    }

    static double[] minMax(double[] v) {
        double lo = Arrays.stream(v).min().orElse(0);
        double hi = Arrays.stream(v).max().orElse(0);
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) out[i] = hi > lo ? (v[i] - lo) / (hi - lo) : 0;
        return out;
    }

    /** Rank of each score in ascending order, from 1; ties keep forward order. */
    public static int[] ranks(double[] scores) {
        Integer[] order = new Integer[scores.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> scores[i]).thenComparingInt(i -> i));
        int[] rank = new int[scores.length];
        for (int r = 0; r < order.length; r++) rank[order[r]] = r + 1;
        return rank;
    }

    /**
     * The cheap metric: over the calibration stream, at every step, the transformer's output with each block
     * switched off against the unmodified output; score = mean over elements and calls of the squared change.
     * Costs one forward per step plus, per block, the blocks after it.
     */
    public static ImportanceReport byOutputMse(Calibration calibration) {
        return byOutputMse(calibration, ProbeRunner.IN_PROCESS, (done, block) -> {});
    }

    /** As above, the blocks measured by {@code runner}. */
    public static ImportanceReport byOutputMse(Calibration calibration, ProbeRunner runner, BlockProgress progress) {
        List<BlockId> blocks = BlockSwap.allBlocks(calibration.model());
        double[][] v = runner.run(blocks, outputMseProbe(calibration), progress);
        double[] mse = new double[blocks.size()];
        for (int i = 0; i < mse.length; i++) mse[i] = v[i][0];
        int[] ranks = ranks(mse);
        List<ImportanceReport.Entry> entries = new ArrayList<>();
        for (int i = 0; i < blocks.size(); i++) {
            entries.add(new ImportanceReport.Entry(blocks.get(i), null, null, mse[i], mse[i], ranks[i]));
        }
        return new ImportanceReport(OUTPUT_MSE, Double.NaN, Double.NaN, calibration.source().describe(),
                calibration.source().size(), calibration.options().seeds(), null, null, entries);
    }

    /**
     * The output-MSE probe: one pass over the calibration stream for the blocks given, each switched off in turn
     * at every step; per block {mse}. The unmodified forward runs block by block, and at the input of each probed
     * block the rest of the model runs from that state without it: the same arrays as a whole forward with the block
     * switched off ({@link BlockSwap#shortcut} is the identity), without recomputing the blocks before it. Per step
     * that is one forward plus, per probed block, the blocks after it (docs/plan.md, "Time").
     */
    public static BlockProbe outputMseProbe(Calibration calibration) {
        FluxModel flux = calibration.model();
        return (blocks, progress) -> {
            double[] sq = new double[blocks.size()];
            long[] count = {0};
            int n = flux.config().blockCount();
            int[] probedAt = new int[n];
            Arrays.fill(probedAt, -1);
            for (int i = 0; i < blocks.size(); i++) probedAt[blocks.get(i).position(flux.config())] = i;
            calibration.run(new CalibrationConsumer() {
                @Override
                public void onStep(Calibration.Step step) {
                    try (NDManager sm = step.scope().newSubManager()) {
                        FluxInputs in = step.inputs();
                        HiddenState h = flux.embed(in);
                        for (NDArray a : h.arrays()) a.attach(sm);
                        long lt = h.streams().txt().getShape().get(1);
                        NDArray vec = flux.vec(in);
                        vec.attach(sm);
                        Rope pe = flux.rope(in);
                        NDArray[] without = new NDArray[blocks.size()];
                        for (int p = 0; p < n; p++) {
                            int i = probedAt[p];
                            if (i >= 0) {
                                // block p switched off: the blocks after it on its input; their states freed at once
                                try (NDManager suffix = sm.newSubManager()) {
                                    for (NDArray a : h.arrays()) a.tempAttach(suffix);
                                    without[i] = flux.output(flux.runBlocks(p + 1, n - 1, h, vec, pe).toJoint(), vec, lt);
                                    without[i].attach(sm);
                                }
                            }
                            HiddenState next = flux.runBlocks(p, p, h, vec, pe);
                            for (NDArray a : h.arrays()) {
                                if (Arrays.stream(next.arrays()).noneMatch(x -> x == a)) a.close();
                            }
                            h = next;
                        }
                        NDArray v0 = flux.output(h.toJoint(), vec, lt);
                        count[0] += v0.getShape().size();
                        for (int i = 0; i < blocks.size(); i++) {
                            sq[i] += without[i].sub(v0).toType(DataType.FLOAT64, false).square().sum().getDouble();
                        }
                    }
                }
            });
            double[][] out = new double[blocks.size()][];
            for (int i = 0; i < blocks.size(); i++) {
                out[i] = new double[] {sq[i] / Math.max(1, count[0])};
                progress.probed(i + 1, blocks.get(i));
            }
            return out;
        };
    }
}
