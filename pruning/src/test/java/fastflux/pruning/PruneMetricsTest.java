package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pair buffers' gauges follow what the open buffers hold, in memory and on disk, and drop to 0 when they close. */
class PruneMetricsTest {
    static double gauge(SimpleMeterRegistry r, String name, String location) {
        return r.get(name).tag("location", location).gauge().value();
    }

    @Test
    void pairGaugesFollowTheOpenBuffersAndTheCountersKeepTheirRecord(@TempDir Path spill) {
        SimpleMeterRegistry r = new SimpleMeterRegistry();
        Metrics.globalRegistry.add(r);
        PruneMetrics.register(); // every meter now, before any pair is recorded
        try {
            long pair = SandwichPairsTest.LAYOUT.bytes();
            // what buffers of other tests in this JVM might still hold: the figures below are on top of it
            double mem0 = gauge(r, "fastflux.sandwich.pairs", "memory");
            double disk0 = gauge(r, "fastflux.sandwich.pairs", "disk");
            double memBytes0 = gauge(r, "fastflux.sandwich.pairs.size", "memory");
            double diskBytes0 = gauge(r, "fastflux.sandwich.pairs.size", "disk");
            try (SandwichPairs a = new SandwichPairs(SandwichPairsTest.LAYOUT, 3 * pair, spill);
                 SandwichPairs b = new SandwichPairs(SandwichPairsTest.LAYOUT, 0, spill)) {
                for (int i = 0; i < 5; i++) a.add(SandwichPairsTest.record(i)); // 3 in memory, 2 on disk
                b.add(SandwichPairsTest.record(9)); // on disk
                assertEquals(mem0 + 3, gauge(r, "fastflux.sandwich.pairs", "memory"));
                assertEquals(disk0 + 3, gauge(r, "fastflux.sandwich.pairs", "disk"));
                assertEquals(memBytes0 + 3 * pair, gauge(r, "fastflux.sandwich.pairs.size", "memory"));
                assertEquals(diskBytes0 + 3 * pair, gauge(r, "fastflux.sandwich.pairs.size", "disk"));
                b.close();
                b.close(); // closing twice frees once
                assertEquals(disk0 + 2, gauge(r, "fastflux.sandwich.pairs", "disk"));
            }
            assertEquals(mem0, gauge(r, "fastflux.sandwich.pairs", "memory"));
            assertEquals(disk0, gauge(r, "fastflux.sandwich.pairs", "disk"));
            assertEquals(memBytes0, gauge(r, "fastflux.sandwich.pairs.size", "memory"));
            assertEquals(diskBytes0, gauge(r, "fastflux.sandwich.pairs.size", "disk"));
            assertEquals(3, r.get("fastflux.sandwich.pairs.recorded").tag("location", "memory").counter().count());
            assertEquals(3, r.get("fastflux.sandwich.pairs.recorded").tag("location", "disk").counter().count());

            PruneMetrics.sandwichStep(0.25);
            PruneMetrics.sandwichTrained(0.125, Double.NaN);
            assertEquals(0.25, r.get("fastflux.sandwich.step.loss").gauge().value());
            assertEquals(0.125, r.get("fastflux.sandwich.final.loss").gauge().value());
            assertTrue(Double.isNaN(r.get("fastflux.sandwich.heldout.final.loss").gauge().value()));
        } finally {
            Metrics.globalRegistry.remove(r);
        }
    }
}
