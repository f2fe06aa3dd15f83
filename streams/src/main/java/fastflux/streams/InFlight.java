package fastflux.streams;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Counts the items between the source and the end of the sink: entered when the source hands an item to the
 * denoise stage, left when the sink has folded it. Its maximum is what the bound tests assert on and what the
 * benchmark prints; with backpressure everywhere it never exceeds {@link CalibrationPipeline.Options#bound()}.
 */
public final class InFlight {
    private final AtomicInteger now = new AtomicInteger();
    private final AtomicInteger max = new AtomicInteger();
    private final AtomicInteger entered = new AtomicInteger();

    void enter() {
        entered.incrementAndGet();
        int n = now.incrementAndGet();
        max.accumulateAndGet(n, Math::max);
    }

    void leave() {
        now.decrementAndGet();
    }

    /** Items in flight now. */
    public int now() {
        return now.get();
    }

    /** The most items ever in flight at once. */
    public int max() {
        return max.get();
    }

    /** Items the source has handed out so far. */
    public int entered() {
        return entered.get();
    }
}
