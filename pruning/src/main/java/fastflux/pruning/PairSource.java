package fastflux.pruning;

/** Sandwich pairs that training reads by index: a {@link SandwichPairs} buffer, or a view of the pairs a streaming trainer keeps. */
public interface PairSource {
    SandwichPairs.Layout layout();

    /** Pairs it holds, indexed 0..size−1. */
    long size();

    /** Record {@code i}, as a fresh array. */
    float[] get(long i);
}
