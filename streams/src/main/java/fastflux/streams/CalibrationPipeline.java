package fastflux.streams;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.model.BlockTap;
import fastflux.model.Streams;
import fastflux.pruning.Calibration;
import fastflux.pruning.CalibrationConsumer;
import fastflux.pruning.CalibrationRunner;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.function.Function;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.OverflowStrategy;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.RunnableGraph;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;

/**
 * The calibration pipeline of BRLL as Pekko Streams: batches of (prompt, noise seed) items → denoise stage
 * ({@code mapAsync}: each batch's guided trajectory on a {@link ShardChain}, {@code parallelism} batches at a
 * time, results in batch order) → bounded buffer of tapped activations → accumulator sink (the consumer's tap
 * replayed on the activations, one batch at a time, in batch order, on the pipeline's own thread).
 *
 * <p>Why this shape: activations are the big data here, so every stage is bounded and backpressured: a slow
 * sink stops the buffer filling, a full buffer stops the denoise stage pulling, and the source is pulled only
 * on demand; at most {@link Options#bound()} batches exist at once, whatever the number of prompts. The fold
 * happens in batch order, the same order as {@link Calibration#run}, so the float64 sums (and the fitted maps)
 * do not depend on which trajectory finished first, nor on how the model is split.
 *
 * <p>It serves consumers that only tap blocks (BRLL's accumulators and residual meters, and the sandwich
 * trainer's recorder, which fills the bounded, spilling training-pair buffer); one that runs extra forwards in
 * {@link CalibrationConsumer#onStep} needs the model at each step and is refused.
 */
public final class CalibrationPipeline implements CalibrationRunner {
    /**
     * @param shards contiguous block ranges the model is split into (1: unsplit)
     * @param parallelism batches whose trajectories run at once (the denoise stage's {@code mapAsync})
     * @param buffer denoised batches that may wait for the sink
     */
    public record Options(int shards, int parallelism, int buffer) {
        public Options {
            if (shards < 1 || parallelism < 1 || buffer < 1) {
                throw new IllegalArgumentException("shards, parallelism and buffer must be >= 1, got " + shards + ", "
                        + parallelism + ", " + buffer);
            }
        }

        public static Options defaults() {
            return new Options(1, 2, 2);
        }

        /** Most batches in flight at once: in the denoise stage, in the buffer, and the one being folded. */
        public int bound() {
            return parallelism + buffer + 1;
        }
    }

    /** What a run saw: batches folded, the most in flight at once, the largest batch of activations. */
    public record Stats(int batches, int maxInFlight, long maxBatchBytes) {}

    private final Materializer materializer;
    private final Options options;
    private final List<Device> devices;
    private final boolean copyWeights;
    private volatile Stats lastStats = new Stats(0, 0, 0);

    public CalibrationPipeline(Materializer materializer, Options options) {
        this(materializer, options, Device.cpu());
    }

    /** Every shard on {@code device}. */
    public CalibrationPipeline(Materializer materializer, Options options, Device device) {
        this(materializer, options, java.util.Collections.nCopies(options.shards(), device), false);
    }

    /** Shard i on {@code devices.get(i)} (as many devices as {@code options.shards()}). */
    public CalibrationPipeline(Materializer materializer, Options options, List<Device> devices) {
        this(materializer, options, devices, false);
    }

    private CalibrationPipeline(Materializer materializer, Options options, List<Device> devices, boolean copyWeights) {
        if (devices.size() != options.shards()) {
            throw new IllegalArgumentException(options.shards() + " shards need as many devices, got " + devices);
        }
        this.materializer = materializer;
        this.options = options;
        this.devices = List.copyOf(devices);
        this.copyWeights = copyWeights;
    }

    /** This pipeline with every shard on its own copy of its range's weights, even on the model's device (tests). */
    CalibrationPipeline withCopiedWeights() {
        return new CalibrationPipeline(materializer, options, devices, true);
    }

    public Options options() {
        return options;
    }

    /** The statistics of the last completed run. */
    public Stats lastStats() {
        return lastStats;
    }

    /**
     * The denoise stage: counts each item into {@code inFlight}, runs {@code denoise} on at most
     * {@code parallelism} at once emitting in input order, then a backpressured buffer of {@code buffer}.
     * Generic so that the bound tests can run it with stand-in stages.
     */
    static <I, T> Flow<I, T, NotUsed> denoiseStage(Function<I, CompletionStage<T>> denoise, Options o, InFlight inFlight) {
        return Flow.<I>create()
                .map(i -> {
                    inFlight.enter();
                    return i;
                })
                .mapAsync(o.parallelism(), denoise::apply)
                .buffer(o.buffer(), OverflowStrategy.backpressure());
    }

    /**
     * The whole graph: source → denoise stage → sink that folds one element at a time ({@code fold} completes when
     * it is done) and only then counts it out of {@code inFlight}. Input buffers of 1 at any async boundary, so no
     * stage holds more than the bounds say.
     */
    static <I, T> RunnableGraph<CompletionStage<Done>> graph(Source<I, ?> items, Function<I, CompletionStage<T>> denoise,
                                                            Function<T, CompletionStage<?>> fold, Options o,
                                                            InFlight inFlight) {
        return items.via(denoiseStage(denoise, o, inFlight))
                .mapAsync(1, t -> fold.apply(t).thenApply(x -> {
                    inFlight.leave();
                    return Done.done();
                }))
                .toMat(Sink.ignore(), Keep.right())
                .withAttributes(Attributes.inputBuffer(1, 1));
    }

    @Override
    public void run(Calibration calibration, CalibrationConsumer consumer, Collection<BlockId> tapped) {
        requireTapOnly(consumer);
        int prompts = calibration.source().size();
        List<Integer> wanted = new ArrayList<>();
        for (int bi = 0; bi < calibration.batches(0, prompts); bi++) {
            if (consumer.wants(bi)) wanted.add(bi);
        }
        Set<BlockId> blocks = new TreeSet<>(tapped);
        InFlight inFlight = new InFlight();
        long[] maxBytes = {0};
        try (ShardChain chain = copyWeights
                ? ShardChain.splitWithCopies(calibration.model(), devices, materializer.system())
                : ShardChain.split(calibration.model(), devices, materializer.system());
             Folder folder = new Folder(consumer)) {
            CompletionStage<Done> done = graph(Source.from(wanted),
                    bi -> chain.denoise(calibration, bi, calibration.items(bi, 0, prompts), blocks),
                    (ShardChain.TappedBatch tb) -> {
                        maxBytes[0] = Math.max(maxBytes[0], tb.bytes());
                        return folder.fold(tb);
                    }, options, inFlight).run(materializer);
            await(done);
        }
        lastStats = new Stats(wanted.size(), inFlight.max(), maxBytes[0]);
    }

    private static void await(CompletionStage<Done> done) {
        try {
            done.toCompletableFuture().join();
        } catch (CompletionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) throw r;
            if (c instanceof Error err) throw err;
            throw e;
        }
    }

    /** A consumer that overrides {@code onStep} runs forwards of its own at each step: the pipeline cannot serve it. */
    static void requireTapOnly(CalibrationConsumer consumer) {
        try {
            if (consumer.getClass().getMethod("onStep", Calibration.Step.class).getDeclaringClass() != CalibrationConsumer.class) {
                throw new IllegalArgumentException(consumer.getClass().getName()
                        + " runs forwards in onStep; run it in-process (CalibrationRunner.IN_PROCESS)");
            }
        } catch (NoSuchMethodException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * The accumulator sink's worker: replays each batch's taps to the consumer, as {@link Calibration#run} would
     * call it (beginBatch, the tap of each step in block order, endBatch), on one thread of its own with its own
     * manager: the consumer's native work (the float64 partial sums) stays off the stream's dispatcher.
     */
    private static final class Folder implements AutoCloseable {
        private final CalibrationConsumer consumer;
        private final ExecutorService thread = ShardThreads.single("fastflux-calibration-sink");
        private final NDManager manager = NDManager.newBaseManager();
        private final java.util.Map<String, String> logContext = fastflux.pruning.LogContext.current(); // the job's, on its thread

        Folder(CalibrationConsumer consumer) {
            this.consumer = consumer;
        }

        CompletableFuture<Void> fold(ShardChain.TappedBatch tb) {
            return CompletableFuture.runAsync(() -> fastflux.pruning.LogContext.run(logContext, () -> replay(tb)), thread);
        }

        private void replay(ShardChain.TappedBatch tb) {
            try (NDManager bm = manager.newSubManager()) {
                Calibration.Batch batch = new Calibration.Batch(tb.index(), tb.items().prompts(), tb.items().noiseSeeds(), bm);
                consumer.beginBatch(batch);
                int step = -1;
                BlockTap tap = BlockTap.NONE;
                for (ShardChain.Tap t : tb.taps()) {
                    if (t.step() != step) {
                        step = t.step();
                        tap = consumer.tap(new Calibration.Step(batch, step, tb.timesteps()[step], null, batch.size(), bm,
                                t.vec().toNd(bm), t.ids().toNd(bm)));
                    }
                    try (NDManager s = bm.newSubManager()) {
                        if (t.block().kind() == BlockId.Kind.DOUBLE) {
                            tap.doubleBlock(t.block().index(), new Streams(t.in().get(0).toNd(s), t.in().get(1).toNd(s)),
                                    new Streams(t.out().get(0).toNd(s), t.out().get(1).toNd(s)));
                        } else {
                            tap.singleBlock(t.block().index(), t.in().get(0).toNd(s), t.out().get(0).toNd(s));
                        }
                    }
                }
                consumer.endBatch(batch);
                fastflux.pruning.PruneMetrics.calibrationItems(batch.size());
            }
        }

        @Override
        public void close() {
            ShardThreads.stop(thread);
            manager.close();
        }
    }
}
