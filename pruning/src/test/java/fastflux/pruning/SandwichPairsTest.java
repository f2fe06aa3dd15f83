package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pair buffer on its own: off-heap chunks, the spill file behind them, and what close leaves. */
class SandwichPairsTest {
    // a joint input, a streams target: 3 txt + 4 img tokens, hidden 5, 3 position axes
    static final SandwichPairs.Layout LAYOUT = new SandwichPairs.Layout(true, false, 3, 4, 5, 3);

    static float[] record(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[LAYOUT.floats()];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    @Test
    void pairsAcrossChunksAndTheSpillFileReadBackAsWritten(@TempDir Path spill) throws Exception {
        long buffer = 7 * LAYOUT.bytes() + 3; // 7 pairs in memory, in chunks of 2: the last chunk holds one
        Path dir;
        try (SandwichPairs p = new SandwichPairs(LAYOUT, buffer, spill, 2 * LAYOUT.bytes())) {
            assertEquals(7, p.memoryCapacity());
            for (int i = 0; i < 11; i++) {
                float[] rec = record(i);
                p.add(rec);
                rec[0] = 1e9f; // the buffer holds a copy
            }
            assertEquals(11, p.size());
            assertEquals(4, p.spilledPairs());
            assertEquals(4 * LAYOUT.bytes(), p.spilledBytes());
            for (int i = 10; i >= 0; i--) assertArrayEquals(record(i), p.get(i), "pair " + i);
            float[] first = p.get(0);
            first[1] = 1e9f; // a fresh array each time
            assertArrayEquals(record(0), p.get(0));
            dir = p.spillDirectory();
            assertTrue(Files.isDirectory(dir));
        }
        assertFalse(Files.exists(dir));
    }

    @Test
    void aBufferThatHoldsEverythingNeverSpills(@TempDir Path spill) {
        try (SandwichPairs p = new SandwichPairs(LAYOUT, 1L << 20, spill)) {
            for (int i = 0; i < 20; i++) p.add(record(i));
            assertEquals(0, p.spilledPairs());
            assertNull(p.spillDirectory());
            for (int i = 0; i < 20; i++) assertArrayEquals(record(i), p.get(i));
        }
    }

    @Test
    void wrongRecordsAndClosedBuffersAreRefused(@TempDir Path spill) {
        SandwichPairs p = new SandwichPairs(LAYOUT, 1L << 20, spill);
        p.add(record(1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.add(new float[3]));
        assertTrue(e.getMessage().contains(LAYOUT.floats() + " floats, got 3"), e.getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> p.get(1));
        assertThrows(IllegalArgumentException.class, () -> new SandwichPairs(LAYOUT, -1, spill));
        p.close();
        assertThrows(IllegalStateException.class, () -> p.get(0));
        assertThrows(IllegalStateException.class, () -> p.add(record(2)));
        p.close(); // twice is fine
    }
}
