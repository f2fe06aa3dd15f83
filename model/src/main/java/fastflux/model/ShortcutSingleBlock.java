package fastflux.model;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/** A single-stream block with its residual branch switched off: {@code Y = X} (importance probes, delete mode). */
public final class ShortcutSingleBlock extends SingleStreamLayer {
    public ShortcutSingleBlock(String prefix) {
        super(prefix);
    }

    @Override
    public NDArray residual(NDArray x, NDArray vec, Rope pe) {
        return x.zerosLike();
    }

    @Override
    public NDArray forward(NDArray x, NDArray vec, Rope pe) {
        return x;
    }

    @Override
    protected void collect(Map<String, Param> out) {}
}
