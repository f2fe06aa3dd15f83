package fastflux.pruning;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The pairs a streaming sandwich trainer keeps for its further passes and its final loss: the in-memory buffer and a
 * disk spill of at most {@code spillBytes} ({@link SandwichPairs#bounded}). Pairs are offered once each, after the
 * first pass has used them; while they fit, every pair is kept. Beyond that, the kept pairs are a uniform sample of
 * the pairs offered (reservoir sampling, Algorithm R): the t-th pair offered (t counted from 0) replaces the pair in
 * slot j when a draw j, uniform in 0..t, is below the capacity. The draws come from a generator seeded by the
 * trainer's seed alone, so the same pairs offered in the same order keep the same sample.
 *
 * <p>Pairs are known by their arrival index; {@link #inOrder} reads the kept ones in arrival order (all of them, in
 * the stream's order, while nothing was dropped), the order the trainer that records every pair reads its buffer in.
 */
final class PairReservoir implements AutoCloseable {
    /** Mixed into the trainer's seed so that the reservoir's draws are not those of the pair order. */
    private static final long SALT = 0x5EED_5A3D_B0C5L;

    private final SandwichPairs store;
    private final long capacity;
    private final SplittableRandom rnd;
    /** Kept arrival index to slot of the store; bounded by the capacity. */
    private final Map<Long, Long> slotOf = new HashMap<>();
    /** Slot of the store to the arrival index it holds; grows to the capacity at most. */
    private long[] indexAt = new long[16];
    private long offered;
    private long reads;

    PairReservoir(SandwichPairs.Layout layout, long bufferBytes, Path spillRoot, long spillBytes, long seed) {
        this.store = SandwichPairs.bounded(layout, bufferBytes, spillRoot, spillBytes);
        this.capacity = store.capacity();
        this.rnd = new SplittableRandom(seed ^ SALT);
    }

    /** Offers pair {@code index} (each pair once): kept while there is room, else by the reservoir's draw. */
    void offer(long index, float[] record) {
        if (slotOf.containsKey(index)) throw new IllegalStateException("pair " + index + " was offered before");
        long t = offered++;
        long slot;
        if (t < capacity) {
            slot = store.size();
            store.add(record);
            if (slot >= indexAt.length) indexAt = Arrays.copyOf(indexAt, (int) Math.min(Integer.MAX_VALUE - 8, indexAt.length * 2L));
        } else {
            slot = rnd.nextLong(t + 1);
            if (slot >= capacity) return;
            slotOf.remove(indexAt[(int) slot]);
            store.set(slot, record);
        }
        indexAt[(int) slot] = index;
        slotOf.put(index, slot);
    }

    /** Pairs offered so far. */
    long offered() {
        return offered;
    }

    /** Pairs kept: all offered, or the capacity once more were offered. */
    long size() {
        return store.size();
    }

    long capacity() {
        return capacity;
    }

    /** The kept pairs' arrival indices, ascending. */
    long[] kept() {
        long[] k = Arrays.copyOf(indexAt, (int) store.size());
        Arrays.sort(k);
        return k;
    }

    boolean holds(long index) {
        return slotOf.containsKey(index);
    }

    /** Kept pair {@code index} (an arrival index). */
    float[] get(long index) {
        Long slot = slotOf.get(index);
        if (slot == null) throw new IllegalArgumentException("pair " + index + " is not kept");
        reads++;
        return store.get(slot);
    }

    /** Reads of kept pairs so far (training's and losses'). */
    long reads() {
        return reads;
    }

    long spilledBytes() {
        return store.spilledBytes();
    }

    /** The spill directory, or null while nothing spilled. */
    Path spillDirectory() {
        return store.spillDirectory();
    }

    /** The kept pairs in arrival order, as 0..size−1. */
    PairSource inOrder() {
        long[] k = kept();
        return new PairSource() {
            @Override
            public SandwichPairs.Layout layout() {
                return store.layout();
            }

            @Override
            public long size() {
                return k.length;
            }

            @Override
            public float[] get(long i) {
                return PairReservoir.this.get(k[Math.toIntExact(i)]);
            }
        };
    }

    @Override
    public void close() {
        store.close();
    }
}
