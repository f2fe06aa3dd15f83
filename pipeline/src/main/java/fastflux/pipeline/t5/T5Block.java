package fastflux.pipeline.t5;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import fastflux.model.Module;
import fastflux.model.Param;
import java.util.Map;

/** One T5 encoder block: pre-norm self-attention, then the pre-norm gated feed-forward, each a residual branch. */
public final class T5Block extends Module {
    /** The reference's clamp for fp16 residuals holding an infinity: {@code finfo(float16).max - 1000}. */
    public static final float FP16_CLAMP = 65504f - 1000f;

    private final T5LayerNorm attentionNorm;
    private final T5Attention attention;
    private final T5LayerNorm feedForwardNorm;
    private final T5FeedForward feedForward;

    public T5Block(String prefix, T5Config config, boolean hasRelativeBias) {
        super(prefix);
        this.attentionNorm = new T5LayerNorm(prefix + "layer.0.layer_norm.", config.dModel(), config.layerNormEpsilon());
        this.attention = new T5Attention(prefix + "layer.0.SelfAttention.", config, hasRelativeBias);
        this.feedForwardNorm = new T5LayerNorm(prefix + "layer.1.layer_norm.", config.dModel(), config.layerNormEpsilon());
        this.feedForward = new T5FeedForward(prefix + "layer.1.DenseReluDense.", config);
    }

    public T5Attention attention() {
        return attention;
    }

    // x [B, L, D], bias [1, H, L, L] -> [B, L, D]
    public NDArray forward(NDArray x, NDArray bias) {
        x = clampFp16(residual(x, attentionBranch(x, bias)));
        x = clampFp16(residual(x, feedForwardBranch(x)));
        return x;
    }

    /** The attention residual branch on its own. */
    public NDArray attentionBranch(NDArray x, NDArray bias) {
        return attention.forward(attentionNorm.forward(x), bias);
    }

    /** The feed-forward residual branch on its own. */
    public NDArray feedForwardBranch(NDArray x) {
        return feedForward.forward(feedForwardNorm.forward(x));
    }

    /** {@code x + f} with torch's type promotion: an fp32 branch (fp16 models' {@code wo}) makes the sum fp32. */
    static NDArray residual(NDArray x, NDArray f) {
        if (x.getDataType() == f.getDataType()) return x.add(f);
        if (x.getDataType() == DataType.FLOAT32) return x.add(f.toType(DataType.FLOAT32, false));
        return x.toType(DataType.FLOAT32, false).addi(f);
    }

    /**
     * In fp16, a residual stream that overflowed is clamped to ±{@link #FP16_CLAMP}, as the reference does after
     * each residual; a finite fp16 stream is left as it is (clamping it to the fp16 maximum changes nothing).
     */
    static NDArray clampFp16(NDArray x) {
        if (x.getDataType() != DataType.FLOAT16) return x;
        boolean overflowed;
        try (NDArray inf = x.isInfinite(); NDArray any = inf.any()) {
            overflowed = any.getBoolean();
        }
        return overflowed ? x.clip(-FP16_CLAMP, FP16_CLAMP) : x;
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(attentionNorm.params());
        out.putAll(attention.params());
        out.putAll(feedForwardNorm.params());
        out.putAll(feedForward.params());
    }
}
