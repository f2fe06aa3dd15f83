package fastflux.checkpoints;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each completed checkpoint write is timed under its store's prefix, in Micrometer's global registry. */
class CheckpointMetricsTest {
    @Test
    void completedWritesAreCountedAndTimedPerStoreAndAFailedOneIsNot(@TempDir Path dir) throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Metrics.globalRegistry.add(registry);
        try {
            CheckpointStore state = CheckpointStoreTest.store(dir.resolve("a"));
            CheckpointStore stage = new CheckpointStore(dir.resolve("a"), "stage", "stage-components", "bin", 1, CheckpointStore.KEEP_ALL);
            for (int n = 1; n <= 3; n++) CheckpointStoreTest.write(state, n, "payload " + n);
            CheckpointStoreTest.write(stage, 1, "stage 1");
            Files.writeString(dir.resolve("file"), "not a directory");
            assertThrows(RuntimeException.class, () -> CheckpointStoreTest.write(CheckpointStoreTest.store(dir.resolve("file")), 1, "x"));
            Timer states = registry.get(CheckpointMetrics.WRITE).tag("store", "state").timer();
            assertEquals(3, states.count());
            assertTrue(states.totalTime(TimeUnit.NANOSECONDS) > 0);
            assertEquals(1, registry.get(CheckpointMetrics.WRITE).tag("store", "stage").timer().count());
        } finally {
            Metrics.globalRegistry.remove(registry);
        }
    }
}
