package fastflux.pruning;

import fastflux.model.DirectBuffers;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The pairs a streaming sandwich trainer holds between their arrival and their first-pass step (the shuffle window,
 * the released pairs a minibatch has not taken, the pairs just handed over), by arrival index: one slot of direct
 * memory a pair (off the Java heap, as {@link SandwichPairs}'s buffer), reused as pairs leave, so its memory is the
 * most pairs it ever held at once, whatever the stream's length.
 */
final class PairWindow implements AutoCloseable {
    private final SandwichPairs.Layout layout;
    private final List<FloatBuffer> records = new ArrayList<>();
    private final List<ByteBuffer> memory = new ArrayList<>();
    private final ArrayDeque<Integer> free = new ArrayDeque<>();
    private final Map<Long, Integer> slotOf = new HashMap<>();
    /** Whether each held pair has been offered to the reservoir already. */
    private final Map<Long, Boolean> offered = new HashMap<>();
    private int most;
    /** No pair arrives any more: a slot is freed as its pair leaves. */
    private boolean ended;

    PairWindow(SandwichPairs.Layout layout) {
        this.layout = layout;
    }

    void put(long index, float[] record) {
        if (ended) throw new IllegalStateException("a pair arrived after the end of the stream");
        if (record.length != layout.floats()) {
            throw new IllegalArgumentException("a pair of this sandwich has " + layout.floats() + " floats, got "
                    + record.length + " (calibration items of different text lengths cannot share a sandwich buffer)");
        }
        Integer slot = free.poll();
        if (slot == null) {
            ByteBuffer b = DirectBuffers.allocate((int) layout.bytes());
            memory.add(b);
            records.add(b.asFloatBuffer());
            slot = records.size() - 1;
        }
        records.get(slot).put(0, record);
        slotOf.put(index, slot);
        offered.put(index, false);
        most = Math.max(most, slotOf.size());
    }

    boolean holds(long index) {
        return slotOf.containsKey(index);
    }

    float[] get(long index) {
        Integer slot = slotOf.get(index);
        if (slot == null) throw new IllegalArgumentException("pair " + index + " is not in the window");
        float[] out = new float[layout.floats()];
        records.get(slot).get(0, out);
        return out;
    }

    boolean offered(long index) {
        return offered.getOrDefault(index, false);
    }

    void markOffered(long index) {
        offered.put(index, true);
    }

    /** The held pairs' arrival indices, ascending. */
    long[] indices() {
        return slotOf.keySet().stream().mapToLong(Long::longValue).sorted().toArray();
    }

    void remove(long index) {
        Integer slot = slotOf.remove(index);
        offered.remove(index);
        if (slot == null) return;
        if (ended) release(slot);
        else free.push(slot);
    }

    /**
     * The stream has ended: slots are freed as their pairs leave (the free ones now), so that the window's memory
     * shrinks as the pairs move to the kept pairs instead of both holding them.
     */
    void end() {
        ended = true;
        while (!free.isEmpty()) release(free.pop());
    }

    private void release(int slot) {
        DirectBuffers.free(memory.get(slot));
        memory.set(slot, null);
        records.set(slot, null);
    }

    int size() {
        return slotOf.size();
    }

    /** The most pairs held at once. */
    int most() {
        return most;
    }

    @Override
    public void close() {
        records.clear();
        for (ByteBuffer b : memory) if (b != null) DirectBuffers.free(b);
        memory.clear();
        slotOf.clear();
        offered.clear();
    }
}
