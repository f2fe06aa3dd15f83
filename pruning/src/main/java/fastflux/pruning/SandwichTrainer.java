package fastflux.pruning;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import fastflux.model.BlockId;
import fastflux.model.BlockTap;
import fastflux.model.DoubleStreamBlock;
import fastflux.model.DoubleStreamLayer;
import fastflux.model.FluxModel;
import fastflux.model.HiddenState;
import fastflux.model.LoraInjector;
import fastflux.model.Module;
import fastflux.model.Param;
import fastflux.model.ReplacedDoubleBlock;
import fastflux.model.ReplacedSingleBlock;
import fastflux.model.Rope;
import fastflux.model.ShortcutDoubleBlock;
import fastflux.model.ShortcutSingleBlock;
import fastflux.model.SingleStreamBlock;
import fastflux.model.SingleStreamLayer;
import fastflux.model.Streams;
import fastflux.model.Tensors;
import fastflux.train.AdamW;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Sandwich Training (paper §3.2, Eq. 3–4, Algorithm 1): after block B_i's residual branch is replaced by its
 * least-squares linear, fine-tune it locally between its nearest kept neighbours.
 *
 * <ol>
 *   <li>{@link #plan}: u = the nearest unreplaced block before i, d = the nearest unreplaced block after i
 *       (Eq. 3); the sandwich runs from the input of B_u to the output of B_d.</li>
 *   <li>{@link #record}: with every earlier sandwich loaded and B_i's original layer back in its slot, the
 *       calibration stream's conditional half gives (input of B_u, output of B_d) pairs, plus vec and position
 *       ids, into a bounded buffer that spills to disk ({@link SandwichPairs}).</li>
 *   <li>{@link #train(FluxModel, Sandwich, SandwichPairs, Options, NDManager)}: with B_i's linear back in, LoRA
 *       (B zero) on every linear of B_u and B_d, the linears of all replaced blocks strictly between u and d and
 *       the LoRAs are trained with AdamW on the MSE to the recorded outputs, the adapters at {@code lr}, the linears
 *       (which start at their least-squares optimum) at {@code linearLr}; everything else is frozen.</li>
 * </ol>
 *
 * <p>Edges: with no unreplaced block before i the sandwich starts at the transformer's embedded input (after
 * img_in/txt_in) and has no LoRA before; with none after it ends at the last block's output (before
 * final_layer) and has no LoRA after. A block that already carries LoRA from an earlier sandwich keeps its one
 * adapter and trains it further ({@link LoraInjector} never stacks). Width 1 trains B_i's linear(s) alone on
 * B_i's own input/output pairs, no LoRA; width 3 is the paper's sandwich; width 5 puts LoRA on the two nearest
 * unreplaced blocks on each side and the pair spans them (generally: (width − 1) / 2 per side). A deleted block
 * (shortcut only) counts as replaced and has nothing to train. The state crosses the double→single boundary as
 * in {@link FluxModel#forward} ({@link FluxModel#runBlocks}).
 *
 * <p>A job records and trains at once: {@link #train(FluxModel, BlockId, Module, Calibration, Calibration, Options,
 * NDManager, FreeSpace, CalibrationRunner, Feed)} feeds the pairs to {@link StreamingSandwich} as the calibration stream
 * records them (in the daemon through the trainer actor of the {@code streams} module), training step by step on a
 * twin of the sandwich, in the order {@link PairOrder} draws; {@link Session} is one training run, step by step,
 * whoever drives it. With the same pairs in the same order it trains what recording first does, bit for bit.
 */
public final class SandwichTrainer {
    private SandwichTrainer() {}

    /**
     * @param width 1, 3 (the paper's), 5, … : odd; (width − 1) / 2 LoRA blocks on each side
     * @param loraRank rank of the neighbours' adapters
     * @param loraAlpha adapter scale alpha (scale = alpha / rank)
     * @param steps optimiser steps
     * @param batchSize pairs per minibatch
     * @param lr AdamW learning rate of the adapters
     * @param linearLr AdamW learning rate of the replaced blocks' linears (0: they stay as fitted)
     * @param weightDecay AdamW decoupled weight decay
     * @param clip global gradient-norm clip (≤ 0: none)
     * @param bufferBytes bytes of pairs kept in memory; the rest spill to {@code spillDir}
     * @param spillDir where a temporary spill directory is made (and deleted after training)
     * @param seed minibatch order and LoRA A initialisation
     * @param windowBytes bytes of pairs the first pass may hold back to shuffle ({@link PairOrder}): the recording runs
     *     at most that far ahead of training; at least the whole stream's bytes (Long.MAX_VALUE) gives each pass a full
     *     shuffle, the order of a trainer that records every pair first
     * @param spillBytes bytes of pairs the streaming trainer's spill may hold for further passes; beyond the buffer and
     *     this, further passes train on a seeded uniform sample of the pairs ({@link PairReservoir})
     * @param microBatch pairs per forward and backward within a minibatch (0: the whole minibatch at once); the
     *     gradients of a minibatch's micro-batches are summed, weighted by their share of it, before the update,
     *     so the training memory is one micro-batch's activations (docs/plan.md, "Sandwich micro-batches")
     */
    public record Options(int width, int loraRank, float loraAlpha, int steps, int batchSize, double lr,
                          double linearLr, double weightDecay, double clip, long bufferBytes, Path spillDir, long seed,
                          long windowBytes, long spillBytes, int microBatch) {
        /** Options whose spill is unbounded, without micro-batches. */
        public Options(int width, int loraRank, float loraAlpha, int steps, int batchSize, double lr, double linearLr,
                       double weightDecay, double clip, long bufferBytes, Path spillDir, long seed, long windowBytes) {
            this(width, loraRank, loraAlpha, steps, batchSize, lr, linearLr, weightDecay, clip, bufferBytes, spillDir, seed,
                    windowBytes, Long.MAX_VALUE, 0);
        }

        /** Pairs per forward and backward: the micro-batch, or the whole minibatch. */
        public int pairsPerPass() {
            return microBatch <= 0 ? batchSize : Math.min(microBatch, batchSize);
        }

        /** Options whose first pass is a full shuffle (no window). */
        public Options(int width, int loraRank, float loraAlpha, int steps, int batchSize, double lr, double linearLr,
                       double weightDecay, double clip, long bufferBytes, Path spillDir, long seed) {
            this(width, loraRank, loraAlpha, steps, batchSize, lr, linearLr, weightDecay, clip, bufferBytes, spillDir, seed,
                    Long.MAX_VALUE);
        }

        /** The window in pairs of {@code layout}. */
        public long window(SandwichPairs.Layout layout) {
            return windowBytes / layout.bytes();
        }

        public Options {
            if (windowBytes < 0) throw new IllegalArgumentException("windowBytes must be >= 0, got " + windowBytes);
            if (spillBytes < 0) throw new IllegalArgumentException("spillBytes must be >= 0, got " + spillBytes);
            if (width < 1 || width % 2 == 0) throw new IllegalArgumentException("width must be odd and >= 1, got " + width);
            if (loraRank <= 0) throw new IllegalArgumentException("loraRank must be positive, got " + loraRank);
            if (!(loraAlpha > 0)) throw new IllegalArgumentException("loraAlpha must be positive, got " + loraAlpha);
            if (steps < 0) throw new IllegalArgumentException("steps must be >= 0, got " + steps);
            if (batchSize <= 0) throw new IllegalArgumentException("batchSize must be positive, got " + batchSize);
            if (microBatch < 0) throw new IllegalArgumentException("microBatch must be >= 0, got " + microBatch);
            if (!(lr >= 0)) throw new IllegalArgumentException("lr must be >= 0, got " + lr);
            if (!(linearLr >= 0)) throw new IllegalArgumentException("linearLr must be >= 0, got " + linearLr);
            if (bufferBytes < 0) throw new IllegalArgumentException("bufferBytes must be >= 0, got " + bufferBytes);
            if (spillDir == null) throw new IllegalArgumentException("spillDir is required");
        }

        /** Width 3, rank 16, alpha 16, 200 steps of 8 pairs, lr 1e-4 (linears too), no decay, clip 1, 1 GiB in memory, tmpdir. */
        public static Options defaults() {
            return new Options(3, 16, 16f, 200, 8, 1e-4, 1e-4, 0.0, 1.0, 1L << 30,
                    Path.of(System.getProperty("java.io.tmpdir")), 0);
        }

        /**
         * A pruning job's sandwich: the method's width, adapters, steps, rates, buffer, minibatch ({@code --st-batch},
         * 16 pairs) and micro-batch ({@link PruneOptions}); no weight decay, gradients clipped at norm 1; pairs that do
         * not fit spill under {@code spillDir}.
         */
        public static Options of(PruneOptions method, Path spillDir, long seed) {
            return new Builder(defaults()).width(method.sandwichWidth()).lora(method.loraRank(), method.loraAlpha())
                    .steps(method.stSteps()).batchSize(method.stBatch()).microBatch(method.stMicroBatch()).lr(method.lr())
                    .linearLr(method.linearLr()).weightDecay(0.0).clip(1.0).buffer(method.bufferBytes(), spillDir).seed(seed)
                    .window(method.windowBytes()).spill(method.spillBytes()).build();
        }

        /** A builder starting from these options. */
        public Builder toBuilder() {
            return new Builder(this);
        }

        /** Sets fields one by one; {@link #build} checks them together. */
        public static final class Builder {
            private int width;
            private int loraRank;
            private float loraAlpha;
            private int steps;
            private int batchSize;
            private double lr;
            private double linearLr;
            private double weightDecay;
            private double clip;
            private long bufferBytes;
            private Path spillDir;
            private long seed;
            private long windowBytes;
            private long spillBytes;
            private int microBatch;

            private Builder(Options o) {
                windowBytes = o.windowBytes;
                spillBytes = o.spillBytes;
                microBatch = o.microBatch;
                width = o.width;
                loraRank = o.loraRank;
                loraAlpha = o.loraAlpha;
                steps = o.steps;
                batchSize = o.batchSize;
                lr = o.lr;
                linearLr = o.linearLr;
                weightDecay = o.weightDecay;
                clip = o.clip;
                bufferBytes = o.bufferBytes;
                spillDir = o.spillDir;
                seed = o.seed;
            }

            public Builder width(int w) {
                width = w;
                return this;
            }

            public Builder lora(int rank, float alpha) {
                loraRank = rank;
                loraAlpha = alpha;
                return this;
            }

            public Builder steps(int s) {
                steps = s;
                return this;
            }

            public Builder batchSize(int b) {
                batchSize = b;
                return this;
            }

            /** Pairs per forward and backward within a minibatch (0: the whole minibatch). */
            public Builder microBatch(int b) {
                microBatch = b;
                return this;
            }

            /** The adapters' learning rate. */
            public Builder lr(double l) {
                lr = l;
                return this;
            }

            /** The replaced blocks' linears' learning rate. */
            public Builder linearLr(double l) {
                linearLr = l;
                return this;
            }

            public Builder weightDecay(double d) {
                weightDecay = d;
                return this;
            }

            public Builder clip(double c) {
                clip = c;
                return this;
            }

            /** Bytes of pairs kept in memory, and where the rest spill. */
            public Builder buffer(long bytes, Path dir) {
                bufferBytes = bytes;
                spillDir = dir;
                return this;
            }

            public Builder seed(long s) {
                seed = s;
                return this;
            }

            /** Bytes of pairs the first pass may hold back to shuffle (Long.MAX_VALUE: all of them). */
            public Builder window(long bytes) {
                windowBytes = bytes;
                return this;
            }

            /** Bytes of pairs the streaming trainer's spill may hold (Long.MAX_VALUE: no bound). */
            public Builder spill(long bytes) {
                spillBytes = bytes;
                return this;
            }

            public Options build() {
                return new Options(width, loraRank, loraAlpha, steps, batchSize, lr, linearLr, weightDecay, clip, bufferBytes,
                        spillDir, seed, windowBytes, spillBytes, microBatch);
            }
        }
    }

    /**
     * Where a sandwich sits: the block, its LoRA neighbours before ({@code loraBefore}, forward order, nearest last)
     * and after ({@code loraAfter}, nearest first), the forward positions {@code first..last} the pairs span, and
     * the replaced blocks whose linears are trained (forward order, the block itself included).
     */
    public record Sandwich(BlockId block, int width, List<BlockId> loraBefore, List<BlockId> loraAfter, int first,
                           int last, List<BlockId> trained) {
        public Sandwich {
            loraBefore = List.copyOf(loraBefore);
            loraAfter = List.copyOf(loraAfter);
            trained = List.copyOf(trained);
        }

        /** B_u, the nearest unreplaced block before, or null (width 1, or none: the sandwich starts at the input). */
        public BlockId up() {
            return loraBefore.isEmpty() ? null : loraBefore.get(loraBefore.size() - 1);
        }

        /** B_d, the nearest unreplaced block after, or null (width 1, or none: it ends at the last block). */
        public BlockId down() {
            return loraAfter.isEmpty() ? null : loraAfter.get(0);
        }

        /** The blocks that get LoRA, in forward order. */
        public List<BlockId> loraBlocks() {
            List<BlockId> out = new ArrayList<>(loraBefore);
            out.addAll(loraAfter);
            return out;
        }
    }

    /**
     * @param block B_i
     * @param up B_u (null: started at the embedded input, or width 1)
     * @param down B_d (null: ended at the last block's output, or width 1)
     * @param trainedParams every trained parameter by checkpoint name, sorted
     * @param initialLoss MSE over all pairs before the first step (LoRA injected, so B = 0 for fresh adapters)
     * @param finalLoss MSE over all pairs after the last step
     * @param losses each step's minibatch loss, before its update
     * @param pairs recorded pairs
     * @param spilledBytes bytes of pairs that went to disk
     * @param heldOutInitialLoss MSE over pairs of held-out calibration prompts (never trained on) before the first
     *     step; NaN when no held-out calibration was given
     * @param heldOutFinalLoss the same after the last step: whether the fit to the training pairs carries over
     * @param heldOutPairs held-out pairs (0: none)
     * @param heldOutSteps the steps after which the held-out loss was measured, ascending: 0, every
     *     {@link #heldOutEvery} steps, and the last; empty when nothing was held out
     * @param heldOutLosses the held-out loss at each of {@code heldOutSteps}
     */
    public record Result(BlockId block, BlockId up, BlockId down, List<String> trainedParams, double initialLoss,
                         double finalLoss, double[] losses, long pairs, long spilledBytes, double heldOutInitialLoss,
                         double heldOutFinalLoss, long heldOutPairs, int[] heldOutSteps, double[] heldOutLosses) {
        public Result {
            if (heldOutSteps.length != heldOutLosses.length) {
                throw new IllegalArgumentException(heldOutSteps.length + " held-out steps but " + heldOutLosses.length + " losses");
            }
        }

        /** Without a held-out curve (only its first and last values, if any). */
        public Result(BlockId block, BlockId up, BlockId down, List<String> trainedParams, double initialLoss,
                      double finalLoss, double[] losses, long pairs, long spilledBytes, double heldOutInitialLoss,
                      double heldOutFinalLoss, long heldOutPairs) {
            this(block, up, down, trainedParams, initialLoss, finalLoss, losses, pairs, spilledBytes, heldOutInitialLoss,
                    heldOutFinalLoss, heldOutPairs, new int[0], new double[0]);
        }
    }

    /**
     * The most held-out measurements' work as a share of the training steps': a training step runs forward and
     * backward over a minibatch (about three forwards' work), a measurement runs forward over every held-out pair.
     */
    static final double HELD_OUT_BUDGET = 0.2;

    /** The most held-out measurements between the first and the last: enough points for a curve. */
    static final int HELD_OUT_POINTS = 20;

    /**
     * Steps between two held-out measurements during training: a measurement every k steps costs
     * {@code heldOutPairs / (3 · batchSize · k)} of the training steps' work, and k keeps that at most
     * {@value #HELD_OUT_BUDGET} and the measurements at most {@value #HELD_OUT_POINTS}. On the Shapes job's defaults
     * that is every 34 steps, about 3 s on 31 s of training (docs/charts.md, "The held-out curve").
     */
    public static int heldOutEvery(int steps, int batchSize, long heldOutPairs) {
        long byCost = (long) Math.ceil(heldOutPairs / (HELD_OUT_BUDGET * 3 * batchSize));
        long byPoints = (long) Math.ceil(steps / (double) HELD_OUT_POINTS);
        return (int) Math.min(Integer.MAX_VALUE, Math.max(1, Math.max(byCost, byPoints)));
    }

    /** Free bytes where the spill goes (injectable for tests). */
    @FunctionalInterface
    public interface FreeSpace {
        long usableBytes(Path dir) throws IOException;

        FreeSpace SYSTEM = dir -> Files.getFileStore(dir).getUsableSpace();
    }

    // ------------------------------------------------------------------ plan

    /**
     * The sandwich of {@code block} in the model's current state, Eq. 3 generalised to {@code (width − 1) / 2}
     * unreplaced neighbours per side. The block itself counts as replaced whatever its slot holds now.
     */
    public static Sandwich plan(FluxModel model, BlockId block, int width) {
        if (width < 1 || width % 2 == 0) throw new IllegalArgumentException("width must be odd and >= 1, got " + width);
        var p = model.config();
        int pos = block.position(p);
        BlockId.atPosition(pos, p); // range check
        if (block.index() >= (block.kind() == BlockId.Kind.DOUBLE ? p.depth() : p.depthSingleBlocks())) {
            throw new IllegalArgumentException("unknown block " + block);
        }
        int k = (width - 1) / 2;
        if (k == 0) return new Sandwich(block, width, List.of(), List.of(), pos, pos, List.of(block));
        List<BlockId> before = new ArrayList<>();
        int first = 0;
        for (int q = pos - 1; q >= 0 && before.size() < k; q--) {
            BlockId b = BlockId.atPosition(q, p);
            if (kept(model, b)) {
                before.add(0, b);
                first = q;
            }
        }
        if (before.size() < k) first = 0;
        List<BlockId> after = new ArrayList<>();
        int last = p.blockCount() - 1;
        for (int q = pos + 1; q < p.blockCount() && after.size() < k; q++) {
            BlockId b = BlockId.atPosition(q, p);
            if (kept(model, b)) {
                after.add(b);
                last = q;
            }
        }
        if (after.size() < k) last = p.blockCount() - 1;
        List<BlockId> trained = new ArrayList<>();
        for (int q = first; q <= last; q++) {
            BlockId b = BlockId.atPosition(q, p);
            if (q == pos || slot(model, b) instanceof ReplacedDoubleBlock || slot(model, b) instanceof ReplacedSingleBlock) {
                trained.add(b);
            }
        }
        return new Sandwich(block, width, before, after, first, last, trained);
    }

    private static boolean kept(FluxModel model, BlockId b) {
        Module s = slot(model, b);
        return s instanceof DoubleStreamBlock || s instanceof SingleStreamBlock;
    }

    static Module slot(FluxModel model, BlockId b) {
        return b.kind() == BlockId.Kind.DOUBLE ? model.doubleBlocks().get(b.index()) : model.singleBlocks().get(b.index());
    }

    private static Module swap(FluxModel model, BlockId b, Module layer) {
        return b.kind() == BlockId.Kind.DOUBLE
                ? model.setDouble(b.index(), (DoubleStreamLayer) layer)
                : model.setSingle(b.index(), (SingleStreamLayer) layer);
    }

    // ------------------------------------------------------------------ the whole procedure

    /**
     * Plans, records and trains the sandwich of {@code block}. The model holds {@code block}'s least-squares
     * linear ({@link BlockFitter.FittedBlock#install}); {@code originalLayer} (what that replaced) is put back
     * for the recording only. LoRA adapters are created in {@code m} and stay on the model (merge or save them).
     */
    public static Result train(FluxModel model, BlockId block, Module originalLayer, Calibration calibration,
                               Options o, NDManager m) {
        return train(model, block, originalLayer, calibration, null, o, m, FreeSpace.SYSTEM, CalibrationRunner.IN_PROCESS);
    }

    /**
     * As above; the pairs are recorded by {@code runner} (in-process, or the streams pipeline). With a
     * {@code heldOut} calibration (other prompts than {@code calibration}'s) its pairs are recorded the same way,
     * never trained on, and the sandwich's loss on them is measured before and after training.
     */
    public static Result train(FluxModel model, BlockId block, Module originalLayer, Calibration calibration,
                               Calibration heldOut, Options o, NDManager m, FreeSpace freeSpace, CalibrationRunner runner) {
        return train(model, block, originalLayer, calibration, heldOut, o, m, freeSpace, runner, Feed.IN_PROCESS);
    }

    /**
     * As above, the training pairs fed to the streaming trainer ({@link StreamingSandwich}) by {@code feed} as the
     * calibration stream records them: the held-out pairs (few) are recorded first, then the stream runs with
     * training on its heels. The same adapters, bit for bit, as recording every pair and then training
     * ({@link #train(FluxModel, Sandwich, SandwichPairs, SandwichPairs, Options, NDManager)}).
     */
    public static Result train(FluxModel model, BlockId block, Module originalLayer, Calibration calibration,
                               Calibration heldOut, Options o, NDManager m, FreeSpace freeSpace, CalibrationRunner runner,
                               Feed feed) {
        Sandwich s = plan(model, block, o.width());
        SandwichPairs.Layout layout = layout(model, s, calibration);
        checkDisk(layout, (long) calibration.items() * calibration.options().steps(), o.spillBytes(), o, freeSpace);
        try (SandwichPairs held = heldOut == null ? null : record(model, s, originalLayer, heldOut, o, freeSpace, runner)) {
            Module replacement = swap(model, s.block(), originalLayer);
            try (StreamingSandwich trainer = new StreamingSandwich(model, s, replacement, layout, held, o, m);
                 Fed fed = feed.open(trainer)) {
                try {
                    runner.run(calibration, new Recorder(model, s, layout, fed::offer),
                            List.of(BlockId.atPosition(s.first(), model.config()), BlockId.atPosition(s.last(), model.config())));
                } finally {
                    swap(model, s.block(), replacement);
                }
                return fed.finish();
            } catch (RuntimeException e) {
                if (slot(model, s.block()) != replacement) swap(model, s.block(), replacement);
                throw e;
            }
        }
    }

    /**
     * Sees each sandwich's losses as it trains: the minibatch loss of step {@code step} (0-based, before its update;
     * NaN when the event is a held-out measurement only) and the held-out loss measured after {@code step} steps
     * (NaN when not measured then). It only observes: the trained values do not depend on it. Called on the thread
     * that trains, which is the streaming trainer's actor thread with {@link Feed}s other than IN_PROCESS.
     */
    @FunctionalInterface
    public interface StepListener {
        StepListener NONE = (step, steps, loss, heldOutLoss) -> {};

        void step(int step, int steps, double loss, double heldOutLoss);
    }

    private static final ThreadLocal<StepListener> STEP_LISTENER = ThreadLocal.withInitial(() -> StepListener.NONE);

    /**
     * Runs {@code body} with {@code listener} seeing the steps of every sandwich training it starts: a trainer takes
     * the listener of the thread that creates it, so training on another thread (the streaming trainer's actor)
     * reports to it too, without a parameter through every entry point.
     */
    public static <T> T observed(StepListener listener, java.util.function.Supplier<T> body) {
        StepListener before = STEP_LISTENER.get();
        STEP_LISTENER.set(listener == null ? StepListener.NONE : listener);
        try {
            return body.get();
        } finally {
            STEP_LISTENER.set(before);
        }
    }

    /**
     * How the recorded pairs reach a {@link StreamingSandwich}: in the recording thread ({@link #IN_PROCESS}), or
     * through the trainer actor of the {@code streams} module, which trains on a thread of its own and answers each
     * hand-over once the pairs it may hold back are within its window (backpressure on the stream).
     */
    @FunctionalInterface
    public interface Feed {
        /** Each hand-over trains at once, in the thread that records. */
        Feed IN_PROCESS = trainer -> new Fed() {
            @Override
            public void offer(List<float[]> records) {
                trainer.accept(records);
            }

            @Override
            public Result finish() {
                return trainer.finish();
            }

            @Override
            public void close() {}
        };

        /** Starts feeding {@code trainer} (its owner closes it after this feed). */
        Fed open(StreamingSandwich trainer);
    }

    /** An open feed: the pairs of one sandwich, then its end. */
    public interface Fed extends AutoCloseable {
        /** Hands over the next pairs, in stream order; returns once the trainer has taken them. */
        void offer(List<float[]> records);

        /** Ends the stream: the trainer's remaining steps, and its result (the model holds the trained values). */
        Result finish();

        @Override
        void close();
    }

    // ------------------------------------------------------------------ recording

    /**
     * Records the sandwich's pairs on the calibration stream (conditional half): the input of position
     * {@code first} and the output of position {@code last}, with {@code block}'s slot holding
     * {@code originalLayer} during the run (the replacement is put back afterwards, also on failure).
     *
     * @throws IllegalStateException before anything runs when the pairs beyond the in-memory buffer would not fit
     *     in the free space of the spill directory
     */
    public static SandwichPairs record(FluxModel model, Sandwich s, Module originalLayer, Calibration calibration,
                                       Options o, FreeSpace freeSpace) {
        return record(model, s, originalLayer, calibration, o, freeSpace, CalibrationRunner.IN_PROCESS);
    }

    /**
     * As above, the calibration stream run by {@code runner}: the recorder only taps the sandwich's first and
     * last blocks, so the streams pipeline can feed the buffer (the shards run the model as it is here, with
     * {@code originalLayer} in its slot).
     */
    public static SandwichPairs record(FluxModel model, Sandwich s, Module originalLayer, Calibration calibration,
                                       Options o, FreeSpace freeSpace, CalibrationRunner runner) {
        var p = model.config();
        SandwichPairs.Layout layout = layout(model, s, calibration);
        long expected = (long) calibration.items() * calibration.options().steps();
        checkDisk(layout, expected, Long.MAX_VALUE, o, freeSpace);

        SandwichPairs pairs = new SandwichPairs(layout, o.bufferBytes(), o.spillDir());
        Module replacement = swap(model, s.block(), originalLayer);
        try {
            runner.run(calibration, new Recorder(model, s, layout, records -> records.forEach(pairs::add)),
                    List.of(BlockId.atPosition(s.first(), p), BlockId.atPosition(s.last(), p)));
        } catch (RuntimeException e) {
            pairs.close();
            throw e;
        } finally {
            swap(model, s.block(), replacement);
        }
        return pairs;
    }

    /** The shape of the sandwich's pairs on {@code calibration}'s stream. */
    static SandwichPairs.Layout layout(FluxModel model, Sandwich s, Calibration calibration) {
        if (calibration.model() != model) throw new IllegalArgumentException("the calibration runs another model");
        var p = model.config();
        int txtTokens;
        try (NDManager t = NDManager.newBaseManager()) {
            txtTokens = (int) calibration.source().condition(new int[] {0}, t).txt().getShape().get(1);
        }
        return new SandwichPairs.Layout(s.first() >= p.depth(), s.last() >= p.depth(), txtTokens,
                calibration.source().latentTokens(), p.hiddenSize(), p.axesDim().length);
    }

    static void checkDisk(SandwichPairs.Layout layout, long expectedPairs, long spillBytes, Options o, FreeSpace freeSpace) {
        long inMemory = o.bufferBytes() / layout.bytes();
        long toDisk = Math.min(Math.max(0, expectedPairs - inMemory), spillBytes / layout.bytes()) * layout.bytes();
        if (toDisk == 0) return;
        long free;
        Path dir = o.spillDir();
        try {
            Files.createDirectories(dir);
            free = freeSpace.usableBytes(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot check free space in the sandwich spill directory " + dir, e);
        }
        if (free < toDisk) {
            throw new IllegalStateException(String.format(java.util.Locale.ROOT,
                    "not enough disk for sandwich pairs in %s: %d pairs of %d bytes, %d in memory (bufferBytes %d), "
                            + "%.1f MiB to spill but %.1f MiB free; raise bufferBytes, use fewer calibration items or another "
                            + "spillDir", dir, expectedPairs, layout.bytes(), inMemory, o.bufferBytes(), toDisk / 1048576.0,
                    free / 1048576.0));
        }
    }

    /**
     * Copies the conditional rows of the sandwich's input and output into records, one pair per item, and hands each
     * step's records to {@code sink} at the start of the next step or the end of the batch: outside the transformer
     * call that made them, so a sink may train right there.
     */
    private static final class Recorder implements CalibrationConsumer {
        private final FluxModel model;
        private final int first;
        private final int last;
        private final int depth;
        private final SandwichPairs.Layout layout;
        private final java.util.function.Consumer<List<float[]>> sink;
        private float[][] pending;
        private List<float[]> ready;

        Recorder(FluxModel model, Sandwich s, SandwichPairs.Layout layout, java.util.function.Consumer<List<float[]>> sink) {
            this.model = model;
            this.first = s.first();
            this.last = s.last();
            this.depth = model.config().depth();
            this.layout = layout;
            this.sink = sink;
        }

        private void flush() {
            if (ready == null) return;
            List<float[]> r = ready;
            ready = null;
            sink.accept(r);
        }

        @Override
        public void endBatch(Calibration.Batch batch) {
            flush();
        }

        /** Starts the step's records with its conditioning vector and position ids. */
        private void begin(Calibration.Step step) {
            int b = step.conditionalRows();
            float[] vec = step.conditionalVec(model).toType(DataType.FLOAT32, false).toFloatArray();
            float[] ids = step.conditionalIds().toType(DataType.FLOAT32, false).toFloatArray();
            int h = layout.hidden();
            int idn = layout.tokens() * layout.axes();
            pending = new float[b][];
            for (int r = 0; r < b; r++) {
                float[] rec = new float[layout.floats()];
                System.arraycopy(vec, r * h, rec, layout.vecOffset(), h);
                System.arraycopy(ids, r * idn, rec, layout.idsOffset(), idn);
                pending[r] = rec;
            }
        }

        @Override
        public BlockTap tap(Calibration.Step step) {
            flush();
            begin(step);
            return new BlockTap() {
                @Override
                public void doubleBlock(int index, Streams in, Streams out) {
                    onBlock(index, HiddenState.of(in), HiddenState.of(out));
                }

                @Override
                public void singleBlock(int index, NDArray in, NDArray out) {
                    onBlock(depth + index, HiddenState.ofJoint(in), HiddenState.ofJoint(out));
                }
            };
        }

        private void onBlock(int position, HiddenState in, HiddenState out) {
            if (position == first) copy(in, 0);
            if (position == last) {
                copy(out, layout.targetOffset());
                ready = List.of(pending);
                pending = null;
            }
        }

        // state rows [b, ...] -> each pending record at offset: img then txt, or joint
        private void copy(HiddenState st, int offset) {
            int b = pending.length;
            int off = offset;
            for (NDArray a : st.arrays()) {
                float[] v = a.toType(DataType.FLOAT32, false).toFloatArray();
                int per = v.length / b;
                for (int r = 0; r < b; r++) System.arraycopy(v, r * per, pending[r], off, per);
                off += per;
            }
            if (off - offset != layout.stateFloats()) {
                throw new IllegalStateException("a calibration state has " + (off - offset) + " floats per item, expected "
                        + layout.stateFloats());
            }
        }
    }

    // ------------------------------------------------------------------ training

    /**
     * Trains the planned sandwich on recorded pairs: the model holds {@code s.block()}'s linear; LoRA (rank, alpha
     * of the options, A seeded, B zero) goes on the LoRA blocks (existing adapters are kept), created in {@code m};
     * the trained blocks' linears and the adapters get gradients, nothing else. Minibatches are drawn without
     * replacement from a seeded permutation, reshuffled each epoch, so a fixed seed gives the same run.
     */
    public static Result train(FluxModel model, Sandwich s, SandwichPairs pairs, Options o, NDManager m) {
        return train(model, s, pairs, null, o, m);
    }

    /**
     * As above, also measuring the loss on {@code heldOut} pairs (null: none) before, during (every
     * {@link #heldOutEvery} steps) and after training.
     */
    public static Result train(FluxModel model, Sandwich s, SandwichPairs pairs, SandwichPairs heldOut, Options o,
                               NDManager m) {
        long held = heldOut == null ? 0 : heldOut.size();
        return train(model, s, pairs, heldOut, o, m, heldOutEvery(o.steps(), o.batchSize(), held));
    }

    /**
     * As above, the held-out loss measured every {@code heldOutEvery} steps. A measurement is a forward pass outside
     * the gradient collector that draws no random numbers, so the trained weights are the same whatever
     * {@code heldOutEvery} is, and with no held-out pairs at all.
     */
    public static Result train(FluxModel model, Sandwich s, SandwichPairs pairs, SandwichPairs heldOut, Options o,
                               NDManager m, int heldOutEvery) {
        if (heldOutEvery < 1) throw new IllegalArgumentException("heldOutEvery must be >= 1, got " + heldOutEvery);
        if (pairs.size() == 0) throw new IllegalArgumentException("no sandwich pairs were recorded");
        // the pairs arrive all at once: the order the streaming trainer draws from the same stream (PairOrder)
        PairOrder order = new PairOrder(o.window(pairs.layout()), o.seed());
        for (long i = 0; i < pairs.size(); i++) order.arrive();
        order.end();
        try (Session t = new Session(model, s, o, m)) {
            double initial = loss(model, s, pairs, o.pairsPerPass(), m);
            Curve curve = new Curve(heldOut, heldOutEvery, model, s, o, m);
            double[] losses = new double[o.steps()];
            for (int step = 0; step < o.steps(); step++) {
                curve.before(step);
                losses[step] = t.step(pairs, order.next(o.batchSize()));
            }
            double fin = loss(model, s, pairs, o.pairsPerPass(), m);
            curve.after(o.steps());
            return curve.result(s, t.trainedNames(), initial, fin, losses, pairs);
        }
    }

    /**
     * One sandwich's training, step by step, on the model it is given: the trained blocks' linears and LoRA on the
     * LoRA blocks (injected here, A seeded, B zero; existing adapters kept) get gradients, nothing else. What
     * {@link #train} runs in a loop, and what the streaming trainer ({@link StreamingSandwich}) runs as pairs arrive.
     */
    static final class Session implements AutoCloseable {
        private final FluxModel model;
        private final Sandwich s;
        private final Options o;
        private final NDManager m;
        private final TreeMap<String, Param> byName = new TreeMap<>();
        private final Set<Param> linears = Collections.newSetFromMap(new IdentityHashMap<>());
        private final List<Param> params;
        private final AdamW adam;
        private final StepListener listener = STEP_LISTENER.get();
        private int stepsDone;

        Session(FluxModel model, Sandwich s, Options o, NDManager m) {
            this.model = model;
            this.s = s;
            this.o = o;
            this.m = m;
            Module current = slot(model, s.block());
            // A deleted block (shortcut only) is trained "the same way" as a replaced one in the paper's ablation
            // (Figure 6): only the adapters of its neighbours learn, as it has no parameters of its own.
            boolean deleted = current instanceof ShortcutDoubleBlock || current instanceof ShortcutSingleBlock;
            if (!(current instanceof ReplacedDoubleBlock || current instanceof ReplacedSingleBlock || deleted)) {
                throw new IllegalArgumentException("block " + s.block() + " must hold its BRLL linear (or its shortcut) before "
                        + "sandwich training, but its slot holds " + current.getClass().getSimpleName());
            }
            if (deleted && s.loraBlocks().isEmpty() && s.trained().stream().allMatch(b -> slot(model, b).params().isEmpty())) {
                throw new IllegalArgumentException("deleted block " + s.block() + " with sandwich width " + s.width()
                        + " leaves nothing to train; use width 3 or 5, or --no-sandwich-training");
            }
            for (BlockId b : s.trained()) byName.putAll(slot(model, b).params());
            linears.addAll(byName.values());
            LoraInjector injector = new LoraInjector(o.loraRank(), o.loraAlpha(), o.seed());
            for (BlockId b : s.loraBlocks()) {
                injector.inject(model, b, m);
                byName.putAll(LoraInjector.trainableParams(model, b));
            }
            model.placeWeights(); // a split model: the new adapters onto their block's device
            params = new ArrayList<>(byName.values());
            for (Param q : params) q.value().setRequiresGradient(true);
            adam = new AdamW(m, 0.9, 0.999, 1e-8, o.weightDecay());
            // fp16 linears train through fp32 masters (frozen weights stay in the compute dtype only); no-op in fp32
            for (Param q : linears) adam.keepMaster(q);
        }

        /** Every trained parameter by checkpoint name, sorted. */
        Map<String, Param> trained() {
            return byName;
        }

        List<String> trainedNames() {
            return List.copyOf(byName.keySet());
        }

        /** The fp32 master copies of the trained parameters held in fp16, by name (none in an fp32 model). */
        Map<String, NDArray> masters() {
            return adam.masters();
        }

        /** One AdamW step on the minibatch {@code idx} of {@code pairs}; returns its loss before the update. */
        double step(PairSource pairs, long[] idx) {
            int micro = o.pairsPerPass();
            if (micro < idx.length) return accumulatedStep(pairs, idx, micro);
            try (NDManager sm = m.newSubManager()) {
                Batch batch = batch(model, pairs, idx, sm);
                double l;
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray loss = mse(model, s, batch);
                    gc.backward(loss);
                    l = loss.getFloat();
                    PruneMetrics.sandwichStep(l);
                }
                adam.step(params, q -> linears.contains(q) ? o.linearLr() : o.lr(), o.clip());
                listener.step(stepsDone++, o.steps(), l, Double.NaN);
                return l;
            }
        }

        /**
         * The step in micro-batches of {@code micro} pairs: each one's forward and backward in turn, its loss weighted
         * by its share of the minibatch so the summed gradients are those of the minibatch's mean loss; one update.
         */
        private double accumulatedStep(PairSource pairs, long[] idx, int micro) {
            double l = 0;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                for (int from = 0; from < idx.length; from += micro) {
                    long[] part = Arrays.copyOfRange(idx, from, Math.min(idx.length, from + micro));
                    float share = part.length / (float) idx.length;
                    try (NDManager sm = m.newSubManager()) {
                        NDArray loss = mse(model, s, batch(model, pairs, part, sm));
                        gc.backward(Tensors.mul(loss, share));
                        l += loss.getFloat() * (double) share;
                    }
                }
            }
            PruneMetrics.sandwichStep(l);
            adam.step(params, q -> linears.contains(q) ? o.linearLr() : o.lr(), o.clip());
            listener.step(stepsDone++, o.steps(), l, Double.NaN);
            return l;
        }

        @Override
        public void close() {
            adam.close();
            for (Param q : params) q.value().setRequiresGradient(false);
        }
    }

    /**
     * The held-out loss during training: at step 0, every {@code every} steps and after the last; a forward outside
     * the gradient collector that draws no random numbers, so the trained weights do not depend on it.
     */
    static final class Curve {
        private final SandwichPairs heldOut;
        private final int every;
        private final FluxModel model;
        private final Sandwich s;
        private final Options o;
        private final NDManager m;
        private final boolean held;
        private final List<Integer> steps = new ArrayList<>();
        private final List<Double> losses = new ArrayList<>();
        private double initial = Double.NaN;
        private double fin = Double.NaN;
        private final StepListener listener = STEP_LISTENER.get();

        Curve(SandwichPairs heldOut, int every, FluxModel model, Sandwich s, Options o, NDManager m) {
            this.heldOut = heldOut;
            this.every = every;
            this.model = model;
            this.s = s;
            this.o = o;
            this.m = m;
            this.held = heldOut != null && heldOut.size() > 0;
            if (held) {
                initial = loss(model, s, heldOut, o.pairsPerPass(), m);
                steps.add(0);
                losses.add(initial);
                measured(0, initial);
            }
        }

        /** Before step {@code step}. */
        void before(int step) {
            if (held && step > 0 && step % every == 0) {
                steps.add(step);
                losses.add(loss(model, s, heldOut, o.pairsPerPass(), m));
                measured(step, losses.get(losses.size() - 1));
            }
        }

        /** After the last of {@code total} steps. */
        void after(int total) {
            if (!held) return;
            fin = loss(model, s, heldOut, o.pairsPerPass(), m);
            if (total > 0) {
                steps.add(total);
                losses.add(fin);
                measured(total, fin);
            }
        }

        private void measured(int step, double loss) {
            PruneMetrics.heldOutMeasured(loss);
            listener.step(step, o.steps(), Double.NaN, loss);
        }

        Result result(Sandwich s, List<String> trained, double initialLoss, double finalLoss, double[] stepLosses,
                      SandwichPairs pairs) {
            return result(s, trained, initialLoss, finalLoss, stepLosses, pairs.size(), pairs.spilledBytes());
        }

        Result result(Sandwich s, List<String> trained, double initialLoss, double finalLoss, double[] stepLosses,
                      long pairs, long spilledBytes) {
            return new Result(s.block(), s.up(), s.down(), trained, initialLoss, finalLoss, stepLosses, pairs,
                    spilledBytes, initial, fin, held ? heldOut.size() : 0,
                    steps.stream().mapToInt(Integer::intValue).toArray(), losses.stream().mapToDouble(Double::doubleValue).toArray());
        }
    }

    /** The sandwich's MSE over all pairs, in minibatches of {@code batchSize}, with the model as it is now. */
    public static double loss(FluxModel model, Sandwich s, PairSource pairs, int batchSize, NDManager m) {
        double sum = 0;
        long n = pairs.size();
        for (long from = 0; from < n; from += batchSize) {
            int k = (int) Math.min(batchSize, n - from);
            long[] idx = new long[k];
            for (int j = 0; j < k; j++) idx[j] = from + j;
            sum += minibatchLoss(model, s, pairs, idx, m) * k;
        }
        return sum / n;
    }

    /** The sandwich's MSE over the pairs {@code idx}, with the model as it is now. */
    static float minibatchLoss(FluxModel model, Sandwich s, PairSource pairs, long[] idx, NDManager m) {
        try (NDManager sm = m.newSubManager()) {
            return mse(model, s, batch(model, pairs, idx, sm)).getFloat();
        }
    }

    private record Batch(HiddenState input, NDArray vec, Rope pe, HiddenState target) {}

    private static Batch batch(FluxModel model, PairSource pairs, long[] idx, NDManager sm) {
        SandwichPairs.Layout l = pairs.layout();
        int n = idx.length;
        int h = l.hidden();
        int lt = l.txtTokens();
        int li = l.imgTokens();
        float[] in = new float[n * l.stateFloats()];
        float[] out = new float[n * l.stateFloats()];
        float[] vec = new float[n * h];
        float[] ids = new float[n * l.tokens() * l.axes()];
        for (int j = 0; j < n; j++) {
            float[] r = pairs.get(idx[j]);
            System.arraycopy(r, 0, in, j * l.stateFloats(), l.stateFloats());
            System.arraycopy(r, l.vecOffset(), vec, j * h, h);
            System.arraycopy(r, l.idsOffset(), ids, j * l.tokens() * l.axes(), l.tokens() * l.axes());
            System.arraycopy(r, l.targetOffset(), out, j * l.stateFloats(), l.stateFloats());
        }
        DataType dt = model.dtype();
        NDArray pe = Tensors.create(sm, ids, new Shape(n, l.tokens(), l.axes()));
        return new Batch(state(sm, in, l.inJoint(), n, lt, li, h, dt), cast(Tensors.create(sm, vec, new Shape(n, h)), dt),
                model.rope(pe), state(sm, out, l.outJoint(), n, lt, li, h, DataType.FLOAT32));
    }

    // records [n][img | txt] or [n][joint] -> a hidden state
    private static HiddenState state(NDManager sm, float[] v, boolean joint, int n, int lt, int li, int h, DataType dt) {
        NDArray all = Tensors.create(sm, v, new Shape(n, (long) (lt + li) * h));
        if (joint) return HiddenState.ofJoint(cast(all.reshape(n, lt + li, h), dt));
        NDArray img = all.get(":, 0:" + ((long) li * h)).reshape(n, li, h);
        NDArray txt = all.get(":, " + ((long) li * h) + ":").reshape(n, lt, h);
        return HiddenState.of(cast(img, dt), cast(txt, dt));
    }

    private static NDArray cast(NDArray a, DataType dt) {
        return a.getDataType() == dt ? a : a.toType(dt, false);
    }

    // mean squared error over every element of the output state (both streams pooled), in fp32
    private static NDArray mse(FluxModel model, Sandwich s, Batch b) {
        HiddenState y = model.runBlocks(s.first(), s.last(), b.input(), b.vec(), b.pe());
        NDArray[] ys = y.arrays();
        NDArray[] ts = b.target().arrays();
        NDArray sum = null;
        long count = 0;
        for (int i = 0; i < ys.length; i++) {
            NDArray d = FluxModel.onDevice(ys[i].toType(DataType.FLOAT32, false), ts[i].getDevice()).sub(ts[i]);
            NDArray sq = d.square().sum();
            sum = sum == null ? sq : sum.add(sq);
            count += d.size();
        }
        return Tensors.div(sum, (float) count);
    }
}
