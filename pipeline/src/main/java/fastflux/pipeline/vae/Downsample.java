package fastflux.pipeline.vae;

import ai.djl.ndarray.NDArray;
import fastflux.model.Module;
import fastflux.model.Param;
import java.util.Map;

/** The reference's {@code Downsample}: zero padding at the right and bottom only, then a stride-2 3x3 convolution. */
public final class Downsample extends Module {
    private final Conv2d conv;

    public Downsample(String prefix, int channels) {
        super(prefix);
        conv = new Conv2d(prefix + "conv.", channels, channels, 3, 2, 0);
    }

    // x [B, C, H, W] -> [B, C, H/2, W/2] (rounded down)
    public NDArray forward(NDArray x) {
        // torch's conv has no asymmetric padding: pad (0, 1, 0, 1) by hand, as the reference does.
        try (NDArray padded = VaeNn.padRightBottom(x)) {
            return conv.forward(padded);
        }
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(conv.params());
    }
}
