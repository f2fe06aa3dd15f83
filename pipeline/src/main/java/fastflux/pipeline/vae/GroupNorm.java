package fastflux.pipeline.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Module;
import fastflux.model.Param;
import java.util.Map;

/** {@code nn.GroupNorm(32, C, eps=1e-6, affine=True)} of the reference; statistics in fp32. */
public final class GroupNorm extends Module {
    private final int channels;
    private final Param weight;
    private final Param bias;

    public GroupNorm(String prefix, int channels) {
        super(prefix);
        this.channels = channels;
        this.weight = new Param(prefix + "weight", new Shape(channels));
        this.bias = new Param(prefix + "bias", new Shape(channels));
    }

    public int channels() {
        return channels;
    }

    // x [B, C, H, W] -> [B, C, H, W]
    public NDArray forward(NDArray x) {
        return VaeNn.groupNorm(x, AutoEncoderParams.NORM_GROUPS, weight.value(), bias.value());
    }

    @Override
    protected void collect(Map<String, Param> out) {
        put(out, weight);
        put(out, bias);
    }
}
