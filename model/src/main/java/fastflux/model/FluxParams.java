package fastflux.model;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The whole FLUX.1 architecture in one value, with the reference implementation's field names.
 * Named configs live in {@link #named(String)}; a tiny test model is one constructor call.
 */
public record FluxParams(
        int inChannels,
        int outChannels,
        int vecInDim,
        int contextInDim,
        int hiddenSize,
        double mlpRatio,
        int numHeads,
        int depth,
        int depthSingleBlocks,
        int[] axesDim,
        int theta,
        boolean qkvBias,
        boolean guidanceEmbed) {

    public FluxParams {
        require(inChannels > 0 && outChannels > 0, "in_channels and out_channels must be positive");
        require(vecInDim > 0 && contextInDim > 0, "vec_in_dim and context_in_dim must be positive");
        require(numHeads > 0 && hiddenSize > 0, "hidden_size and num_heads must be positive");
        require(hiddenSize % numHeads == 0,
                "hidden_size " + hiddenSize + " is not divisible by num_heads " + numHeads);
        require(axesDim != null && axesDim.length > 0, "axes_dim must list at least one axis");
        int headDim = hiddenSize / numHeads;
        require(Arrays.stream(axesDim).sum() == headDim,
                "sum(axes_dim) " + Arrays.toString(axesDim) + " = " + Arrays.stream(axesDim).sum()
                        + " must equal head_dim " + headDim);
        require(Arrays.stream(axesDim).allMatch(d -> d > 0 && d % 2 == 0), "every axes_dim entry must be even and positive");
        require(depth >= 0 && depthSingleBlocks >= 0, "depth and depth_single_blocks must be >= 0");
        require(mlpRatio > 0, "mlp_ratio must be positive");
        require(theta > 0, "theta must be positive");
        axesDim = axesDim.clone();
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException("invalid FluxParams: " + message);
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }

    public int mlpHidden() {
        return (int) (hiddenSize * mlpRatio);
    }

    public int blockCount() {
        return depth + depthSingleBlocks;
    }

    @Override
    public int[] axesDim() {
        return axesDim.clone();
    }

    /** The same architecture with other block counts (used by tests and the Shapes model). */
    public FluxParams withDepth(int doubleBlocks, int singleBlocks) {
        return new FluxParams(inChannels, outChannels, vecInDim, contextInDim, hiddenSize, mlpRatio, numHeads,
                doubleBlocks, singleBlocks, axesDim, theta, qkvBias, guidanceEmbed);
    }

    private static final Map<String, FluxParams> NAMED = new LinkedHashMap<>();

    static {
        NAMED.put("flux-dev", new FluxParams(64, 64, 768, 4096, 3072, 4.0, 24, 19, 38,
                new int[] {16, 56, 56}, 10_000, true, true));
        NAMED.put("flux-schnell", new FluxParams(64, 64, 768, 4096, 3072, 4.0, 24, 19, 38,
                new int[] {16, 56, 56}, 10_000, true, false));
        // The mid-size config of the speed benchmark.
        NAMED.put("flux-mid", new FluxParams(64, 64, 768, 512, 768, 4.0, 12, 4, 8,
                new int[] {16, 24, 24}, 10_000, true, true));
        // The reference fixture's config (../shared/fixtures/flux-tiny-a).
        NAMED.put("flux-tiny-a", new FluxParams(16, 16, 24, 40, 64, 4.0, 4, 2, 3,
                new int[] {4, 6, 6}, 10_000, true, true));
        // The Shapes world's model: 4x4 pixel patches (48 channels), no guidance embedding.
        NAMED.put("shapes-tiny", new FluxParams(48, 48, 64, 64, 128, 4.0, 4, 4, 8,
                new int[] {8, 12, 12}, 10_000, true, false));
        // A deeper, narrower Shapes model of about the same cost per step (20 blocks of width 96 against 12 of
        // 128), so that 20 % replaces 4 blocks: an experiment, not the embedded default.
        NAMED.put("shapes-deep", new FluxParams(48, 48, 64, 64, 96, 4.0, 3, 6, 14,
                new int[] {8, 12, 12}, 10_000, true, false));
    }

    public static FluxParams named(String name) {
        FluxParams p = NAMED.get(name);
        if (p == null) {
            throw new IllegalArgumentException("unknown config '" + name + "'; known: " + String.join(", ", NAMED.keySet()));
        }
        return p;
    }

    public static Iterable<String> names() {
        return NAMED.keySet();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FluxParams p && toString().equals(p.toString());
    }

    @Override
    public int hashCode() {
        return toString().hashCode();
    }

    @Override
    public String toString() {
        return "FluxParams[in_channels=" + inChannels + ", out_channels=" + outChannels + ", vec_in_dim=" + vecInDim
                + ", context_in_dim=" + contextInDim + ", hidden_size=" + hiddenSize + ", mlp_ratio=" + mlpRatio
                + ", num_heads=" + numHeads + ", depth=" + depth + ", depth_single_blocks=" + depthSingleBlocks
                + ", axes_dim=" + Arrays.toString(axesDim) + ", theta=" + theta + ", qkv_bias=" + qkvBias
                + ", guidance_embed=" + guidanceEmbed + "]";
    }
}
