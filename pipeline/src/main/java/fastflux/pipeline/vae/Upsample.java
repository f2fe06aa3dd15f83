package fastflux.pipeline.vae;

import ai.djl.ndarray.NDArray;
import fastflux.model.Module;
import fastflux.model.Param;
import java.util.Map;

/** The reference's {@code Upsample}: nearest-neighbour ×2, then a 3x3 convolution. */
public final class Upsample extends Module {
    private final Conv2d conv;

    public Upsample(String prefix, int channels) {
        super(prefix);
        conv = new Conv2d(prefix + "conv.", channels, channels, 3, 1, 1);
    }

    // x [B, C, H, W] -> [B, C, 2H, 2W]
    public NDArray forward(NDArray x) {
        try (NDArray up = VaeNn.upsampleNearest2x(x)) {
            return conv.forward(up);
        }
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(conv.params());
    }
}
