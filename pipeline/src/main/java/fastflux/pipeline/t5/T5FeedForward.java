package fastflux.pipeline.t5;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import fastflux.model.Linear;
import fastflux.model.Module;
import fastflux.model.Nn;
import fastflux.model.Param;
import java.util.Map;

/**
 * T5 v1.1's gated-GELU feed-forward ({@code T5DenseGatedActDense}): {@code wo(gelu_tanh(wi_0 x) * wi_1 x)}, no bias.
 * The product is cast to {@code wo}'s dtype first: in fp16 the reference keeps {@code wo} in fp32 because its input
 * overflows fp16 in the large models.
 */
public final class T5FeedForward extends Module {
    private final Linear wi0;
    private final Linear wi1;
    private final Linear wo;

    public T5FeedForward(String prefix, T5Config config) {
        super(prefix);
        this.wi0 = new Linear(prefix + "wi_0.", config.dModel(), config.dFf(), false);
        this.wi1 = new Linear(prefix + "wi_1.", config.dModel(), config.dFf(), false);
        this.wo = new Linear(prefix + "wo.", config.dFf(), config.dModel(), false);
    }

    /** The output projection, kept in fp32 when the rest of the model runs in fp16. */
    public Linear wo() {
        return wo;
    }

    // x [B, L, D] -> [B, L, D] in wo's dtype
    public NDArray forward(NDArray x) {
        NDArray gated = Nn.geluTanh(wi0.forward(x)).muli(wi1.forward(x)); // [B, L, F]
        DataType wt = wo.weight().value().getDataType();
        if (gated.getDataType() != wt) gated = gated.toType(wt, false);
        return wo.forward(gated);
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(wi0.params());
        out.putAll(wi1.params());
        out.putAll(wo.params());
    }
}
