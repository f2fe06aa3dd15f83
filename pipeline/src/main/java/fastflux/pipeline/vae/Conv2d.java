package fastflux.pipeline.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Module;
import fastflux.model.Param;
import java.util.Map;

/** A 2-D convolution in torch's layout (weight [out, in, k, k], bias [out]), square kernel, stride and padding. */
public final class Conv2d extends Module {
    private final int in;
    private final int out;
    private final int kernel;
    private final int stride;
    private final int padding;
    private final Param weight;
    private final Param bias;

    public Conv2d(String prefix, int in, int out, int kernel, int stride, int padding) {
        super(prefix);
        this.in = in;
        this.out = out;
        this.kernel = kernel;
        this.stride = stride;
        this.padding = padding;
        this.weight = new Param(prefix + "weight", new Shape(out, in, kernel, kernel));
        this.bias = new Param(prefix + "bias", new Shape(out));
    }

    public int in() {
        return in;
    }

    public int out() {
        return out;
    }

    public int kernel() {
        return kernel;
    }

    public Param weight() {
        return weight;
    }

    public Param bias() {
        return bias;
    }

    // x [B, in, H, W] -> [B, out, H', W']
    public NDArray forward(NDArray x) {
        return ai.djl.nn.convolutional.Conv2d.conv2d(x, weight.value(), bias.value(), new Shape(stride, stride),
                new Shape(padding, padding)).singletonOrThrow();
    }

    @Override
    protected void collect(Map<String, Param> out) {
        put(out, weight);
        put(out, bias);
    }
}
