package fastflux.model;

import ai.djl.ndarray.NDArray;

/**
 * Observes each block's input and output during a forward (the activation tap of calibration and of the
 * reference-parity checks). Arrays are only valid during the call, and so are the arrays a tap computes from
 * them: at inference each block runs in a scope of its own that is closed when the block ends. Copy to the host,
 * or attach to a manager of your own, what must be kept.
 */
public interface BlockTap {
    BlockTap NONE = new BlockTap() {};

    default void doubleBlock(int index, Streams in, Streams out) {}

    default void singleBlock(int index, NDArray in, NDArray out) {}
}
