package fastflux.pipeline.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Linear;
import fastflux.model.Module;
import fastflux.model.Param;
import fastflux.model.Tensors;
import java.util.Map;

/**
 * One pre-LN layer of Hugging Face's {@code CLIPEncoderLayer}: self-attention (causal in the text tower, unmasked
 * in the vision tower), then the MLP, each on its own LayerNorm and added to the residual stream.
 */
public final class ClipEncoderLayer extends Module {
    private static final float QUICK_GELU_ALPHA = 1.702f;

    private final int heads;
    private final int headDim;
    private final String hiddenAct;
    private final boolean causal;
    private final ClipLayerNorm layerNorm1;
    private final Linear qProj;
    private final Linear kProj;
    private final Linear vProj;
    private final Linear outProj;
    private final ClipLayerNorm layerNorm2;
    private final Linear fc1;
    private final Linear fc2;

    ClipEncoderLayer(String prefix, ClipTextConfig config) {
        this(prefix, config.hiddenSize(), config.intermediateSize(), config.numAttentionHeads(),
                config.layerNormEps(), config.hiddenAct(), true);
    }

    /** A layer of width {@code h}; {@code causal} masks each token from the later ones (the text tower). */
    ClipEncoderLayer(String prefix, int h, int intermediateSize, int heads, double layerNormEps, String hiddenAct,
                     boolean causal) {
        super(prefix);
        this.heads = heads;
        this.headDim = h / heads;
        this.hiddenAct = hiddenAct;
        this.causal = causal;
        layerNorm1 = new ClipLayerNorm(child("layer_norm1."), h, layerNormEps);
        qProj = new Linear(child("self_attn.q_proj."), h, h, true);
        kProj = new Linear(child("self_attn.k_proj."), h, h, true);
        vProj = new Linear(child("self_attn.v_proj."), h, h, true);
        outProj = new Linear(child("self_attn.out_proj."), h, h, true);
        layerNorm2 = new ClipLayerNorm(child("layer_norm2."), h, layerNormEps);
        fc1 = new Linear(child("mlp.fc1."), h, intermediateSize, true);
        fc2 = new Linear(child("mlp.fc2."), intermediateSize, h, true);
    }

    // x [B, L, H] -> [B, L, H]
    public NDArray forward(NDArray x) {
        x = x.add(attentionBranch(x));
        x = x.add(mlpBranch(x));
        return x;
    }

    /** The attention residual branch, {@code out_proj(attention(layer_norm1(x)))}. */
    // x [B, L, H] -> [B, L, H]
    public NDArray attentionBranch(NDArray x) {
        NDArray n = layerNorm1.forward(x);
        long b = x.getShape().get(0), l = x.getShape().get(1);
        int d = headDim;
        NDArray q = splitHeads(qProj.forward(n), b, l, heads, d);
        NDArray k = splitHeads(kProj.forward(n), b, l, heads, d);
        NDArray v = splitHeads(vProj.forward(n), b, l, heads, d);
        NDArray o = causal ? causalAttention(q, k, v) : attention(q, k, v); // [B, heads, L, d]
        return outProj.forward(o.transpose(0, 2, 1, 3).reshape(b, l, (long) heads * d));
    }

    /** The MLP residual branch, {@code fc2(act(fc1(layer_norm2(x))))}. */
    // x [B, L, H] -> [B, L, H]
    public NDArray mlpBranch(NDArray x) {
        NDArray hIn = fc1.forward(layerNorm2.forward(x));
        NDArray act = hiddenAct.equals("gelu") ? ai.djl.nn.Activation.gelu(hIn) : quickGelu(hIn);
        return fc2.forward(act);
    }

    /** CLIP's activation, {@code x · σ(1.702 x)}. */
    static NDArray quickGelu(NDArray x) {
        return x.mul(ai.djl.nn.Activation.sigmoid(Tensors.mul(x, QUICK_GELU_ALPHA)));
    }

    /**
     * softmax(q kᵀ / √D + causal mask) v. The model's {@code Attention} has no mask, and at CLIP's 77 tokens the
     * score matrix is small enough that chunking would only cost time.
     */
    // q, k, v [B, H, L, D] -> [B, H, L, D]
    static NDArray causalAttention(NDArray q, NDArray k, NDArray v) {
        long l = q.getShape().get(2);
        float scale = (float) (1.0 / Math.sqrt(q.getShape().get(3)));
        NDArray scores = Tensors.mul(q, scale).matMul(k.transpose(0, 1, 3, 2)); // [B, H, L, L]
        try (NDArray mask = causalMask(scores.getManager(), (int) l)) {
            return scores.add(mask).softmax(-1).matMul(v);
        }
    }

    /** softmax(q kᵀ / √D) v, every token seeing every token (the vision tower). */
    // q, k, v [B, H, L, D] -> [B, H, L, D]
    static NDArray attention(NDArray q, NDArray k, NDArray v) {
        float scale = (float) (1.0 / Math.sqrt(q.getShape().get(3)));
        return Tensors.mul(q, scale).matMul(k.transpose(0, 1, 3, 2)).softmax(-1).matMul(v);
    }

    /** [L, L]: 0 where key ≤ query, −∞ above the diagonal (a token sees only itself and earlier tokens). */
    static NDArray causalMask(NDManager m, int l) {
        float[] data = new float[l * l];
        for (int i = 0; i < l; i++) {
            for (int j = i + 1; j < l; j++) data[i * l + j] = Float.NEGATIVE_INFINITY;
        }
        return Tensors.create(m, data, new Shape(l, l));
    }

    // [B, L, heads·d] -> [B, heads, L, d]
    private static NDArray splitHeads(NDArray x, long b, long l, int heads, int d) {
        return x.reshape(b, l, heads, d).transpose(0, 2, 1, 3);
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(layerNorm1.params());
        out.putAll(qProj.params());
        out.putAll(kProj.params());
        out.putAll(vProj.params());
        out.putAll(outProj.params());
        out.putAll(layerNorm2.params());
        out.putAll(fc1.params());
        out.putAll(fc2.params());
    }
}
