package fastflux.checkpoints;

import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.TimeUnit;

/**
 * The checkpoint writes as a monitoring system sees them: one timer per store prefix ({@code state}, {@code stage}),
 * {@code fastflux_checkpoint_write_seconds_count} and {@code _sum} in Prometheus' names. Recorded into Micrometer's
 * global registry, so this module knows nothing of Prometheus (docs/metrics.md).
 */
public final class CheckpointMetrics {
    public static final String WRITE = "fastflux.checkpoint.write";

    private CheckpointMetrics() {}

    /** The timer of the checkpoints named {@code prefix}-NNNN; registered on first use. */
    public static Timer writes(String prefix) {
        return Timer.builder(WRITE).description("checkpoint writes (payload, manifest, checksums, fsync and rename) and their duration")
                .tag("store", prefix).register(Metrics.globalRegistry);
    }

    /** One completed write of a {@code prefix} checkpoint, started at {@code startNanos} ({@link System#nanoTime}). */
    static void written(String prefix, long startNanos) {
        writes(prefix).record(System.nanoTime() - startNanos, TimeUnit.NANOSECONDS);
    }
}
