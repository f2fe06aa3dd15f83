package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pairs a streaming trainer keeps for further passes: a bounded spill, and a seeded uniform sample beyond it. */
class PairReservoirTest {
    static final SandwichPairs.Layout LAYOUT = SandwichPairsTest.LAYOUT;

    static long bytesOnDisk(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
    }

    @Test
    void theSpillNeverExceedsItsBoundAndEveryKeptPairReadsBackAsOffered(@TempDir Path spill) throws IOException {
        long bound = 3 * LAYOUT.bytes() + 5; // 3 whole pairs
        try (PairReservoir r = new PairReservoir(LAYOUT, 2 * LAYOUT.bytes(), spill, bound, 1)) {
            assertEquals(5, r.capacity());
            for (long i = 0; i < 40; i++) {
                r.offer(i, SandwichPairsTest.record(i));
                assertTrue(bytesOnDisk(spill) <= 3 * LAYOUT.bytes(), "pair " + i + ": " + bytesOnDisk(spill) + " bytes on disk");
                assertEquals(Math.min(i + 1, 5), r.size());
            }
            assertEquals(3 * LAYOUT.bytes(), bytesOnDisk(spill), "the spill is full");
            assertEquals(40, r.offered());
            long[] kept = r.kept();
            assertEquals(5, kept.length);
            for (long i : kept) assertArrayEquals(SandwichPairsTest.record(i), r.get(i), "pair " + i);
            PairSource inOrder = r.inOrder();
            for (int k = 0; k < kept.length; k++) assertArrayEquals(SandwichPairsTest.record(kept[k]), inOrder.get(k));
            assertTrue(kept[4] >= 5, "later pairs replaced earlier ones");
            assertThrows(IllegalStateException.class, () -> r.offer(kept[0], SandwichPairsTest.record(0)));
        }
        assertEquals(0, bytesOnDisk(spill), "close deletes the spill");
    }

    @Test
    void withRoomForEveryPairAllAreKeptInArrivalOrder(@TempDir Path spill) {
        try (PairReservoir r = new PairReservoir(LAYOUT, 2 * LAYOUT.bytes(), spill, Long.MAX_VALUE, 1)) {
            long[] order = {3, 0, 4, 1, 2, 5};
            for (long i : order) r.offer(i, SandwichPairsTest.record(i));
            assertArrayEquals(new long[] {0, 1, 2, 3, 4, 5}, r.kept());
            for (int k = 0; k < 6; k++) assertArrayEquals(SandwichPairsTest.record(k), r.inOrder().get(k));
        }
    }

    static long[] sample(Path spill, long seed, int n, long capacityPairs) {
        try (PairReservoir r = new PairReservoir(LAYOUT, 0, spill, capacityPairs * LAYOUT.bytes(), seed)) {
            for (long i = 0; i < n; i++) r.offer(i, SandwichPairsTest.record(i));
            return r.kept();
        }
    }

    @Test
    void theSampleIsTheSameForASeedAndUniformAcrossSeeds(@TempDir Path spill) {
        assertArrayEquals(sample(spill, 42, 30, 4), sample(spill, 42, 30, 4));
        assertFalse(java.util.Arrays.equals(sample(spill, 42, 30, 4), sample(spill, 43, 30, 4)), "another seed, another sample");
        // each of 12 pairs is kept with probability 3/12 (Algorithm R): over 800 seeds, about 200 times each
        int n = 12;
        int[] times = new int[n];
        for (long seed = 0; seed < 800; seed++) for (long i : sample(spill, seed, n, 3)) times[(int) i]++;
        for (int i = 0; i < n; i++) assertTrue(times[i] > 150 && times[i] < 250, "pair " + i + " kept " + times[i] + " times of 800");
    }
}
