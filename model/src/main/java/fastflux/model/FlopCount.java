package fastflux.model;

import java.util.Set;

/**
 * Analytic FLOPs of one transformer forward: 2 × the multiply-accumulates of every linear layer (embedders,
 * modulations, qkv, proj, MLPs, linear1/linear2, final layer) plus both attention matmuls (QKᵀ and PV) of
 * each block. Elementwise work (norms, RoPE, softmax, GELU, biases) is not counted: it is what a fast forward
 * should make negligible, so GFLOP/s against this count says how close the forward comes to GEMM speed.
 */
public final class FlopCount {
    private FlopCount() {}

    /** How one block slot is counted: the original block, or a pruned one (e.g. {@link #replacedBlock}). */
    @FunctionalInterface
    public interface BlockCost {
        /** MACs of the block in slot {@code id} ({@code double_blocks.N} / {@code single_blocks.N}). */
        long macs(String id, long original, FluxParams p, long batch, long imgTokens, long txtTokens);
    }

    /** Every block as built by {@link FluxModel}. */
    public static final BlockCost ORIGINAL = (id, original, p, b, li, lt) -> original;

    /** FLOPs of the unpruned model. */
    public static long forward(FluxParams p, int batch, int imgTokens, int txtTokens) {
        return forward(p, batch, imgTokens, txtTokens, ORIGINAL);
    }

    /**
     * FLOPs with the blocks named in {@code replaced} ({@code double_blocks.N}, {@code single_blocks.N}) each
     * counted as a per-token hidden×hidden linear on every stream.
     */
    public static long forward(FluxParams p, int batch, int imgTokens, int txtTokens, Set<String> replaced) {
        return forward(p, batch, imgTokens, txtTokens,
                (id, original, q, b, li, lt) -> replaced.contains(id) ? replacedBlock(q, b, li + lt) : original);
    }

    public static long forward(FluxParams p, int batch, int imgTokens, int txtTokens, BlockCost cost) {
        long b = batch, li = imgTokens, lt = txtTokens, h = p.hiddenSize();
        long macs = b * li * p.inChannels() * h            // img_in
                + b * lt * p.contextInDim() * h            // txt_in
                + mlpEmbedder(b, 256, h)                   // time_in
                + mlpEmbedder(b, p.vecInDim(), h)          // vector_in
                + (p.guidanceEmbed() ? mlpEmbedder(b, 256, h) : 0)
                + b * h * 2 * h                            // final_layer.adaLN_modulation
                + b * li * h * p.outChannels();            // final_layer.linear
        for (int i = 0; i < p.depth(); i++) {
            macs += cost.macs("double_blocks." + i, doubleBlock(p, b, li, lt), p, b, li, lt);
        }
        for (int i = 0; i < p.depthSingleBlocks(); i++) {
            macs += cost.macs("single_blocks." + i, singleBlock(p, b, li + lt), p, b, li, lt);
        }
        return 2 * macs;
    }

    /** MACs of a double-stream block: two modulations, per-stream qkv/proj/MLP, joint attention. */
    public static long doubleBlock(FluxParams p, long b, long li, long lt) {
        long h = p.hiddenSize(), m = p.mlpHidden(), l = li + lt;
        long perToken = h * 3 * h + h * h + h * m + m * h; // qkv, proj, mlp.0, mlp.2
        return 2 * b * h * 6 * h + b * l * perToken + attention(b, l, h);
    }

    /** MACs of a single-stream block over {@code l} joint tokens. */
    public static long singleBlock(FluxParams p, long b, long l) {
        long h = p.hiddenSize(), m = p.mlpHidden();
        return b * h * 3 * h + b * l * (h * (3 * h + m) + (h + m) * h) + attention(b, l, h);
    }

    /** A block replaced by a per-token hidden×hidden linear over {@code l} tokens (all streams together). */
    public static long replacedBlock(FluxParams p, long b, long l) {
        long h = p.hiddenSize();
        return b * l * h * h;
    }

    /** QKᵀ and PV over all heads: 2 · B · L² · (heads · head_dim). */
    static long attention(long b, long l, long h) {
        return 2 * b * l * l * h;
    }

    private static long mlpEmbedder(long b, long in, long h) {
        return b * (in * h + h * h);
    }
}
