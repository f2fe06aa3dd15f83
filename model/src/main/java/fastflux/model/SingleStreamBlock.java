package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.Map;

/**
 * FLUX.1's single-stream block over the joint sequence: one fused {@code linear1} produces q, k, v and the
 * MLP input; {@code linear2} maps cat(attention, gelu(mlp)) back; the residual is {@code x + gate * output}.
 */
public final class SingleStreamBlock extends SingleStreamLayer {
    final Modulation modulation;
    final Linear linear1;
    final Linear linear2;
    final QKNorm norm;
    private final int hidden;
    private final int numHeads;

    public SingleStreamBlock(String prefix, FluxParams p) {
        super(prefix);
        hidden = p.hiddenSize();
        numHeads = p.numHeads();
        int mlp = p.mlpHidden();
        modulation = new Modulation(prefix + "modulation.", hidden, false);
        linear1 = new Linear(prefix + "linear1.", hidden, 3 * hidden + mlp, true);
        linear2 = new Linear(prefix + "linear2.", hidden + mlp, hidden, true);
        norm = new QKNorm(prefix + "norm.", p.headDim());
    }

    // x [B, L, H], vec [B, H] -> gate * output [B, L, H]
    @Override
    public NDArray residual(NDArray x, NDArray vec, Rope pe) {
        Modulation.Out mod = modulation.forward(vec)[0];
        NDArray xMod = Nn.modulate(Nn.layerNorm(x), mod.shift(), mod.scale());
        NDList parts = linear1.forward(xMod).split(new long[] {3L * hidden}, 2);
        NDArray[] qkv = SelfAttention.splitHeads(parts.get(0), numHeads);
        NDArray attn = Attention.attention(norm.query(qkv[0]), norm.key(qkv[1]), qkv[2], pe);
        NDArray output = linear2.forward(attn.concat(Nn.geluTanh(parts.get(1)), 2));
        return Nn.scaled(output, mod.gate()); // output is fresh
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(modulation.params());
        out.putAll(linear1.params());
        out.putAll(linear2.params());
        out.putAll(norm.params());
    }

    /** Every linear layer of the block, by parameter prefix (LoRA targets). */
    public Map<String, Linear> linears() {
        Map<String, Linear> m = new java.util.LinkedHashMap<>();
        for (Linear l : new Linear[] {modulation.lin, linear1, linear2}) m.put(l.prefix(), l);
        return m;
    }
}
