package fastflux.pipeline.vae;

import static fastflux.pipeline.vae.VaeNn.replace;

import ai.djl.ndarray.NDArray;
import fastflux.model.Module;
import fastflux.model.Param;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * The reference's {@code Encoder}: {@code conv_in}, per level {@code num_res_blocks} ResNet blocks and (but the
 * last) a downsampling, the mid block (ResNet, attention, ResNet), then norm, swish and {@code conv_out} to the
 * Gaussian's moments, mean and log-variance stacked on the channels.
 */
public final class Encoder extends Module {
    private final AutoEncoderParams params;
    private final Conv2d convIn;
    private final List<List<ResnetBlock>> blocks = new ArrayList<>();
    private final List<Downsample> downsamples = new ArrayList<>(); // levels - 1 of them
    private final ResnetBlock midBlock1;
    private final AttnBlock midAttn1;
    private final ResnetBlock midBlock2;
    private final GroupNorm normOut;
    private final Conv2d convOut;

    public Encoder(String prefix, AutoEncoderParams p) {
        super(prefix);
        this.params = p;
        convIn = new Conv2d(prefix + "conv_in.", p.inChannels(), p.ch(), 3, 1, 1);
        int blockIn = p.ch();
        for (int level = 0; level < p.levels(); level++) {
            List<ResnetBlock> level_ = new ArrayList<>();
            int blockOut = p.channels(level);
            for (int i = 0; i < p.numResBlocks(); i++) {
                level_.add(new ResnetBlock(prefix + "down." + level + ".block." + i + ".", blockIn, blockOut));
                blockIn = blockOut;
            }
            blocks.add(Collections.unmodifiableList(level_));
            if (level != p.levels() - 1) downsamples.add(new Downsample(prefix + "down." + level + ".downsample.", blockIn));
        }
        midBlock1 = new ResnetBlock(prefix + "mid.block_1.", blockIn, blockIn);
        midAttn1 = new AttnBlock(prefix + "mid.attn_1.", blockIn);
        midBlock2 = new ResnetBlock(prefix + "mid.block_2.", blockIn, blockIn);
        normOut = new GroupNorm(prefix + "norm_out.", blockIn);
        convOut = new Conv2d(prefix + "conv_out.", blockIn, 2 * p.zChannels(), 3, 1, 1);
    }

    /** The ResNet blocks of each level. */
    public List<List<ResnetBlock>> blocks() {
        return Collections.unmodifiableList(blocks);
    }

    public AttnBlock midAttention() {
        return midAttn1;
    }

    // x [B, in_channels, H, W] -> moments [B, 2 z_channels, H/f, W/f], f = the downsampling factor
    public NDArray forward(NDArray x) {
        NDArray h = convIn.forward(x);
        for (int level = 0; level < params.levels(); level++) {
            for (ResnetBlock block : blocks.get(level)) h = step(h, block::forward);
            if (level != params.levels() - 1) h = step(h, downsamples.get(level)::forward);
        }
        // middle
        h = step(h, midBlock1::forward);
        h = step(h, midAttn1::forward);
        h = step(h, midBlock2::forward);
        return step(h, this::end);
    }

    // h [B, C, H, W] -> conv_out(swish(norm_out(h)))
    private NDArray end(NDArray h) {
        try (NDArray a = VaeNn.swishInPlace(normOut.forward(h))) {
            return convOut.forward(a);
        }
    }

    /** One block on {@code h}, its intermediates freed at its end and {@code h} closed after it. */
    static NDArray step(NDArray h, UnaryOperator<NDArray> block) {
        return replace(h, VaeNn.scoped(h, block));
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(convIn.params());
        for (int level = 0; level < blocks.size(); level++) {
            for (ResnetBlock b : blocks.get(level)) out.putAll(b.params());
            if (level < downsamples.size()) out.putAll(downsamples.get(level).params());
        }
        out.putAll(midBlock1.params());
        out.putAll(midAttn1.params());
        out.putAll(midBlock2.params());
        out.putAll(normOut.params());
        out.putAll(convOut.params());
    }
}
