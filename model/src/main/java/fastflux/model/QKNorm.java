package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import java.util.Map;

/** RMS norms of queries and keys, per head, with learned scales. */
public final class QKNorm extends Module {
    final Param queryScale;
    final Param keyScale;

    public QKNorm(String prefix, int headDim) {
        super(prefix);
        queryScale = new Param(prefix + "query_norm.scale", new Shape(headDim));
        keyScale = new Param(prefix + "key_norm.scale", new Shape(headDim));
    }

    // q, k [B, H, L, D]
    public NDArray query(NDArray q) {
        return Nn.rmsNorm(q, queryScale.value());
    }

    public NDArray key(NDArray k) {
        return Nn.rmsNorm(k, keyScale.value());
    }

    @Override
    protected void collect(Map<String, Param> out) {
        put(out, queryScale);
        put(out, keyScale);
    }
}
