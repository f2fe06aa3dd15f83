package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import java.util.Map;

/** The attention weights of one stream of a double block: qkv projection, QK-norm and output projection. */
public final class SelfAttention extends Module {
    final Linear qkv;
    final QKNorm norm;
    final Linear proj;
    private final int numHeads;

    public SelfAttention(String prefix, int hidden, int numHeads, boolean qkvBias) {
        super(prefix);
        this.numHeads = numHeads;
        qkv = new Linear(prefix + "qkv.", hidden, 3 * hidden, qkvBias);
        norm = new QKNorm(prefix + "norm.", hidden / numHeads);
        proj = new Linear(prefix + "proj.", hidden, hidden, true);
    }

    /** Projects to normalised q, k and v. */
    // x [B, L, H*D] -> 3 x [B, heads, L, D]
    public NDArray[] qkv(NDArray x) {
        NDArray[] split = splitHeads(qkv.forward(x), numHeads);
        return new NDArray[] {norm.query(split[0]), norm.key(split[1]), split[2]};
    }

    /** {@code "B L (K H D) -> K B H L D"} for K = 3. */
    static NDArray[] splitHeads(NDArray qkv, int numHeads) {
        Shape s = qkv.getShape();
        long b = s.get(0), l = s.get(1), d = s.get(2) / 3 / numHeads;
        NDList parts = qkv.reshape(b, l, 3, numHeads, d).transpose(2, 0, 3, 1, 4).split(3, 0);
        return new NDArray[] {parts.get(0).squeeze(0), parts.get(1).squeeze(0), parts.get(2).squeeze(0)};
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(qkv.params());
        out.putAll(norm.params());
        out.putAll(proj.params());
    }
}
