package fastflux.pipeline.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Module;
import fastflux.model.Param;
import java.util.Map;

/** LayerNorm over the last axis with a learned scale and shift ({@code torch.nn.LayerNorm}), in fp32. */
final class ClipLayerNorm extends Module {
    private final Param weight;
    private final Param bias;
    private final float eps;

    ClipLayerNorm(String prefix, int width, double eps) {
        super(prefix);
        this.weight = new Param(prefix + "weight", new Shape(width));
        this.bias = new Param(prefix + "bias", new Shape(width));
        this.eps = (float) eps;
    }

    // x [..., H] -> [..., H]
    NDArray forward(NDArray x) {
        return ai.djl.nn.norm.LayerNorm.layerNorm(x, weight.shape(), weight.value(), bias.value(), eps)
                .singletonOrThrow();
    }

    @Override
    protected void collect(Map<String, Param> out) {
        put(out, weight);
        put(out, bias);
    }
}
