package fastflux.model;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/** {@code out_layer(silu(in_layer(x)))}: the time, guidance and pooled-text embedders. */
public final class MLPEmbedder extends Module {
    final Linear inLayer;
    final Linear outLayer;

    public MLPEmbedder(String prefix, int inDim, int hidden) {
        super(prefix);
        inLayer = new Linear(prefix + "in_layer.", inDim, hidden, true);
        outLayer = new Linear(prefix + "out_layer.", hidden, hidden, true);
    }

    // x [B, in] -> [B, hidden]
    public NDArray forward(NDArray x) {
        return outLayer.forward(Nn.silu(inLayer.forward(x)));
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(inLayer.params());
        out.putAll(outLayer.params());
    }
}
