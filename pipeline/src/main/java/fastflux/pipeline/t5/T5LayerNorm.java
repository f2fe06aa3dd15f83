package fastflux.pipeline.t5;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Module;
import fastflux.model.Param;
import fastflux.model.Tensors;
import java.util.Map;

/** T5's RMS norm: {@code weight * x / sqrt(mean(x²) + eps)}, no mean subtracted and no bias; statistics in fp32. */
public final class T5LayerNorm extends Module {
    private final Param weight;
    private final float eps;

    public T5LayerNorm(String prefix, int dim, double eps) {
        super(prefix);
        this.weight = new Param(prefix + "weight", new Shape(dim));
        this.eps = (float) eps;
    }

    public Param weight() {
        return weight;
    }

    // x [..., D] -> [..., D] in the weight's dtype (the reference casts to it before scaling)
    public NDArray forward(NDArray x) {
        NDArray x32 = x.getDataType() == DataType.FLOAT32 ? x : x.toType(DataType.FLOAT32, false);
        NDArray rms = Tensors.add(x32.square().mean(new int[] {-1}, true), eps).sqrt();
        NDArray y = x32.div(rms);
        DataType wt = weight.value().getDataType();
        if (wt != DataType.FLOAT32) y = y.toType(wt, false);
        return y.muli(weight.value());
    }

    @Override
    protected void collect(Map<String, Param> out) {
        put(out, weight);
    }
}
