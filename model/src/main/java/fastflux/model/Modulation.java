package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.Map;

/** adaLN modulation: {@code lin(silu(vec))} split into (shift, scale, gate) once or twice. */
public final class Modulation extends Module {
    /** One (shift, scale, gate) triple, each [B, 1, H]. */
    public record Out(NDArray shift, NDArray scale, NDArray gate) {}

    final Linear lin;
    private final int multiplier;

    public Modulation(String prefix, int hidden, boolean isDouble) {
        super(prefix);
        multiplier = isDouble ? 6 : 3;
        lin = new Linear(prefix + "lin.", hidden, multiplier * hidden, true);
    }

    // vec [B, H] -> multiplier/3 triples of [B, 1, H]
    public Out[] forward(NDArray vec) {
        NDList chunks = lin.forward(Nn.silu(vec)).expandDims(1).split(multiplier, 2);
        Out[] out = new Out[multiplier / 3];
        for (int i = 0; i < out.length; i++) {
            out[i] = new Out(chunks.get(3 * i), chunks.get(3 * i + 1), chunks.get(3 * i + 2));
        }
        return out;
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(lin.params());
    }
}
