package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.Map;

/** Final adaLN (shift, scale) and projection to the output channels. */
public final class LastLayer extends Module {
    final Linear adaLN;
    final Linear linear;

    public LastLayer(String prefix, int hidden, int outChannels) {
        super(prefix);
        adaLN = new Linear(prefix + "adaLN_modulation.1.", hidden, 2 * hidden, true);
        linear = new Linear(prefix + "linear.", hidden, outChannels, true);
    }

    // x [B, L, H], vec [B, H] -> [B, L, out]
    public NDArray forward(NDArray x, NDArray vec) {
        NDList ss = adaLN.forward(Nn.silu(vec)).expandDims(1).split(2, 2);
        return linear.forward(Nn.modulate(Nn.layerNorm(x), ss.get(0), ss.get(1)));
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(adaLN.params());
        out.putAll(linear.params());
    }
}
