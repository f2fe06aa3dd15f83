package fastflux.model;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/** BRLL for a single-stream block: {@code x + linear(x)} over the joint sequence, per token. */
public final class ReplacedSingleBlock extends SingleStreamLayer {
    final Linear linear;

    public ReplacedSingleBlock(String prefix, int hidden) {
        super(prefix);
        linear = new Linear(prefix + "linear.", hidden, hidden, true);
    }

    public Linear linear() {
        return linear;
    }

    @Override
    public NDArray residual(NDArray x, NDArray vec, Rope pe) {
        return linear.forward(x);
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(linear.params());
    }
}
