package fastflux.pruning;

import java.util.ArrayDeque;
import java.util.SplittableRandom;

/**
 * The order in which sandwich training draws its pairs, as a function of the order the pairs arrive in, a window and
 * a seed: the same for the trainer that records every pair first and for the one fed by the calibration stream, so
 * that both give the same adapters.
 *
 * <p>First pass: each arriving pair enters a window of at most {@code window} pairs; when it overflows, one pair of
 * the window, drawn uniformly, is released for training. When the stream ends, the pairs left in the window are
 * released in a Fisher–Yates shuffle of the window. Further passes release every pair in a fresh shuffle each.
 * Minibatches take the released pairs in order, {@code min(batch, pairs)} at a time, across pass boundaries.
 *
 * <p>A further pass shuffles the pairs {@link #furtherPasses} names (every pair, 0..n−1, unless told otherwise): a
 * streaming trainer whose pairs exceed its buffer and spill names the sample it kept ({@link PairReservoir}).
 *
 * <p>With a window at least as large as the stream, nothing is released before the end, and the first pass is the
 * shuffle of 0..n−1 that every further pass is: the order of a trainer that records every pair, then shuffles each
 * epoch. A smaller window lets training start while the stream runs, at most {@code window} pairs behind it.
 */
final class PairOrder {
    private final long window;
    private final SplittableRandom rnd;
    /** The window, as pair indices; a released pair's slot takes the last one. */
    private long[] held = new long[16];
    private int heldCount;
    private final ArrayDeque<Long> released = new ArrayDeque<>();
    private long arrived;
    private boolean ended;
    /** A further pass's shuffle, and how far minibatches have taken it. */
    private long[] pass;
    private int passNext;
    /** The pairs further passes shuffle, asked for once, when the first further pass starts; null: every pair. */
    private java.util.function.Supplier<long[]> further;
    private long[] furtherPairs;

    PairOrder(long window, long seed) {
        if (window < 0) throw new IllegalArgumentException("window must be >= 0, got " + window);
        this.window = window;
        this.rnd = new SplittableRandom(seed);
    }

    /** Pair {@link #arrived()} arrives (pairs are numbered in arrival order). */
    void arrive() {
        if (ended) throw new IllegalStateException("a pair arrived after the end of the stream");
        if (heldCount == held.length) held = java.util.Arrays.copyOf(held, held.length * 2);
        held[heldCount++] = arrived++;
        if (heldCount > window) {
            int j = rnd.nextInt(heldCount);
            released.add(held[j]);
            held[j] = held[--heldCount];
        }
    }

    /** The stream has ended: the window is released in a shuffle. */
    void end() {
        if (ended) return;
        ended = true;
        for (int i = heldCount - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            long t = held[i];
            held[i] = held[j];
            held[j] = t;
        }
        for (int i = 0; i < heldCount; i++) released.add(held[i]);
        heldCount = 0;
        held = new long[0];
    }

    /**
     * Further passes shuffle the pairs {@code pairs} gives (arrival indices, ascending; at least one), asked for when
     * the first further pass starts. Every pair 0..n−1 gives the order of the trainer that records every pair.
     */
    void furtherPasses(java.util.function.Supplier<long[]> pairs) {
        this.further = pairs;
    }

    /** Takes every pair released and not taken by a minibatch, in release order (training has ended). */
    long[] drainReleased() {
        long[] out = new long[released.size()];
        for (int i = 0; i < out.length; i++) out[i] = released.poll();
        return out;
    }

    long arrived() {
        return arrived;
    }

    /** Pairs in the window, not yet released. */
    int holding() {
        return heldCount;
    }

    /** Pairs released and not yet taken by a minibatch. */
    int waiting() {
        return released.size();
    }

    boolean ended() {
        return ended;
    }

    /**
     * The next minibatch of {@code min(batch, pairs)} pair indices, or null while the stream runs and fewer than
     * {@code batch} pairs are released. After the end, further passes supply what the first one no longer has.
     */
    long[] next(int batch) {
        if (!ended && released.size() < batch) return null;
        if (ended && arrived == 0) throw new IllegalStateException("no sandwich pairs were recorded");
        int n = ended ? (int) Math.min(batch, arrived) : batch;
        long[] idx = new long[n];
        for (int j = 0; j < n; j++) {
            if (!released.isEmpty()) {
                idx[j] = released.poll();
                continue;
            }
            if (pass == null || passNext == pass.length) {
                if (pass == null) {
                    if (further != null) {
                        furtherPairs = further.get();
                        if (furtherPairs.length == 0) throw new IllegalStateException("no pairs are kept for further passes");
                    }
                    pass = new long[furtherPairs == null ? Math.toIntExact(arrived) : furtherPairs.length];
                }
                for (int i = 0; i < pass.length; i++) pass[i] = furtherPairs == null ? i : furtherPairs[i];
                for (int i = pass.length - 1; i > 0; i--) {
                    int k = rnd.nextInt(i + 1);
                    long t = pass[i];
                    pass[i] = pass[k];
                    pass[k] = t;
                }
                passNext = 0;
            }
            idx[j] = pass[passNext++];
        }
        return idx;
    }
}
