package fastflux.pruning;

import fastflux.checkpoints.CheckpointMetrics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The method's figures for a monitoring system: calibration items, the sandwich's losses and its pair buffers.
 * Recorded into Micrometer's global registry (a composite: whatever registry the daemon adds, Prometheus for
 * {@code /metrics}, receives them; with none they cost a few atomic writes). The whole list with Prometheus' names
 * is in docs/metrics.md. Values are per JVM: the daemon runs one job at a time.
 */
public final class PruneMetrics {
    private PruneMetrics() {}

    private static final MeterRegistry REGISTRY = Metrics.globalRegistry;

    private static final Counter CALIBRATION_ITEMS = Counter.builder("fastflux.calibration.items")
            .description("calibration items (prompt x noise seed trajectories) run through a calibration pass; its rate is items per second")
            .register(REGISTRY);

    private static final Counter SANDWICH_STEPS = Counter.builder("fastflux.sandwich.steps")
            .description("sandwich training optimizer steps").register(REGISTRY);

    private static final AtomicLong STEP_LOSS = nan();
    private static final AtomicLong FINAL_LOSS = nan();
    private static final AtomicLong HELD_OUT_FINAL_LOSS = nan();
    private static final AtomicLong HELD_OUT_LOSS = nan();

    /** Pairs and bytes held by the open pair buffers, in memory (off the heap) and spilled to disk. */
    private static final AtomicLong PAIRS_MEMORY = new AtomicLong();
    private static final AtomicLong PAIRS_DISK = new AtomicLong();
    private static final AtomicLong BYTES_MEMORY = new AtomicLong();
    private static final AtomicLong BYTES_DISK = new AtomicLong();

    private static final Counter RECORDED_MEMORY = recorded("memory");
    private static final Counter RECORDED_DISK = recorded("disk");

    static {
        gauge("fastflux.sandwich.step.loss", STEP_LOSS,
                "minibatch MSE of the latest sandwich training step (the sandwich training now, or the last one); NaN before any");
        gauge("fastflux.sandwich.heldout.loss", HELD_OUT_LOSS,
                "MSE over held-out pairs at the latest measurement during sandwich training (the sandwich training now, or the last one); NaN before any");
        gauge("fastflux.sandwich.final.loss", FINAL_LOSS, "MSE over all pairs after the last completed sandwich training; NaN before any");
        gauge("fastflux.sandwich.heldout.final.loss", HELD_OUT_FINAL_LOSS,
                "MSE over held-out pairs after the last completed sandwich training; NaN before any or without held-out prompts");
        Gauge.builder("fastflux.sandwich.pairs", PAIRS_MEMORY, AtomicLong::get).tag("location", "memory").strongReference(true)
                .description("sandwich pairs held by the open pair buffers").register(REGISTRY);
        Gauge.builder("fastflux.sandwich.pairs", PAIRS_DISK, AtomicLong::get).tag("location", "disk").strongReference(true)
                .description("sandwich pairs held by the open pair buffers").register(REGISTRY);
        Gauge.builder("fastflux.sandwich.pairs.size", BYTES_MEMORY, AtomicLong::get).tag("location", "memory").baseUnit("bytes")
                .strongReference(true).description("bytes of sandwich pairs held: in memory (direct buffers) or spilled to disk")
                .register(REGISTRY);
        Gauge.builder("fastflux.sandwich.pairs.size", BYTES_DISK, AtomicLong::get).tag("location", "disk").baseUnit("bytes")
                .strongReference(true).description("bytes of sandwich pairs held: in memory (direct buffers) or spilled to disk")
                .register(REGISTRY);
    }

    private static AtomicLong nan() {
        return new AtomicLong(Double.doubleToRawLongBits(Double.NaN));
    }

    private static void gauge(String name, AtomicLong bits, String description) {
        Gauge.builder(name, bits, b -> Double.longBitsToDouble(b.get())).description(description).strongReference(true).register(REGISTRY);
    }

    private static Counter recorded(String location) {
        return Counter.builder("fastflux.sandwich.pairs.recorded").tag("location", location)
                .description("sandwich pairs recorded, by where they were kept").register(REGISTRY);
    }

    /**
     * Registers every meter of the method (and the checkpoint timers of its stores) now, so that a scrape shows them
     * before the first job uses them.
     */
    public static void register() {
        CheckpointMetrics.writes("state"); // PruneState's two stores
        CheckpointMetrics.writes("stage");
    }

    /** {@code items} calibration items went through a calibration pass (in-process or the streams pipeline). */
    public static void calibrationItems(int items) {
        CALIBRATION_ITEMS.increment(items);
    }

    /** One sandwich training step with minibatch loss {@code loss}. */
    static void sandwichStep(double loss) {
        STEP_LOSS.set(Double.doubleToRawLongBits(loss));
        SANDWICH_STEPS.increment();
    }

    /** A held-out loss measured during (or at the start or end of) a sandwich training. */
    static void heldOutMeasured(double loss) {
        HELD_OUT_LOSS.set(Double.doubleToRawLongBits(loss));
    }

    /** A sandwich training ended with these losses over all pairs (held out: NaN when there were none). */
    static void sandwichTrained(double finalLoss, double heldOutFinalLoss) {
        FINAL_LOSS.set(Double.doubleToRawLongBits(finalLoss));
        HELD_OUT_FINAL_LOSS.set(Double.doubleToRawLongBits(heldOutFinalLoss));
    }

    /** A pair buffer took one pair of {@code bytes}, kept in memory or spilled. */
    static void pairAdded(long bytes, boolean spilled) {
        (spilled ? PAIRS_DISK : PAIRS_MEMORY).incrementAndGet();
        (spilled ? BYTES_DISK : BYTES_MEMORY).addAndGet(bytes);
        (spilled ? RECORDED_DISK : RECORDED_MEMORY).increment();
    }

    /** A pair buffer closed, freeing its pairs in memory and on disk. */
    static void pairsFreed(long memoryPairs, long diskPairs, long pairBytes) {
        PAIRS_MEMORY.addAndGet(-memoryPairs);
        PAIRS_DISK.addAndGet(-diskPairs);
        BYTES_MEMORY.addAndGet(-memoryPairs * pairBytes);
        BYTES_DISK.addAndGet(-diskPairs * pairBytes);
    }
}
