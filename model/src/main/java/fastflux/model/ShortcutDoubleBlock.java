package fastflux.model;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/** A double-stream block with its residual branch switched off: {@code Y = X} (importance probes, delete mode). */
public final class ShortcutDoubleBlock extends DoubleStreamLayer {
    public ShortcutDoubleBlock(String prefix) {
        super(prefix);
    }

    @Override
    public Streams forward(NDArray img, NDArray txt, NDArray vec, Rope pe) {
        return new Streams(img, txt);
    }

    @Override
    protected void collect(Map<String, Param> out) {}
}
