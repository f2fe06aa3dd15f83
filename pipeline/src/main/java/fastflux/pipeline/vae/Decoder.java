package fastflux.pipeline.vae;

import static fastflux.pipeline.vae.Encoder.step;

import ai.djl.ndarray.NDArray;
import fastflux.model.Module;
import fastflux.model.Param;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The reference's {@code Decoder}: {@code conv_in}, the mid block (ResNet, attention, ResNet), then from the
 * deepest level up {@code num_res_blocks + 1} ResNet blocks and (but level 0) an upsampling, then norm, swish and
 * {@code conv_out}. Levels keep the reference's indices: {@code up.0} is the full-resolution level, run last.
 */
public final class Decoder extends Module {
    private final AutoEncoderParams params;
    private final Conv2d convIn;
    private final ResnetBlock midBlock1;
    private final AttnBlock midAttn1;
    private final ResnetBlock midBlock2;
    private final List<List<ResnetBlock>> blocks; // by level index
    private final List<Upsample> upsamples; // by level index, null at level 0
    private final GroupNorm normOut;
    private final Conv2d convOut;

    public Decoder(String prefix, AutoEncoderParams p) {
        super(prefix);
        this.params = p;
        int levels = p.levels();
        int blockIn = p.channels(levels - 1);
        convIn = new Conv2d(prefix + "conv_in.", p.zChannels(), blockIn, 3, 1, 1);
        midBlock1 = new ResnetBlock(prefix + "mid.block_1.", blockIn, blockIn);
        midAttn1 = new AttnBlock(prefix + "mid.attn_1.", blockIn);
        midBlock2 = new ResnetBlock(prefix + "mid.block_2.", blockIn, blockIn);
        List<List<ResnetBlock>> byLevel = new ArrayList<>(Collections.nCopies(levels, null));
        List<Upsample> ups = new ArrayList<>(Collections.nCopies(levels, null));
        for (int level = levels - 1; level >= 0; level--) {
            List<ResnetBlock> level_ = new ArrayList<>();
            int blockOut = p.channels(level);
            for (int i = 0; i < p.numResBlocks() + 1; i++) {
                level_.add(new ResnetBlock(prefix + "up." + level + ".block." + i + ".", blockIn, blockOut));
                blockIn = blockOut;
            }
            byLevel.set(level, Collections.unmodifiableList(level_));
            if (level != 0) ups.set(level, new Upsample(prefix + "up." + level + ".upsample.", blockIn));
        }
        blocks = Collections.unmodifiableList(byLevel);
        upsamples = Collections.unmodifiableList(ups);
        normOut = new GroupNorm(prefix + "norm_out.", blockIn);
        convOut = new Conv2d(prefix + "conv_out.", blockIn, p.outCh(), 3, 1, 1);
    }

    /** The ResNet blocks of each level, by the reference's level index. */
    public List<List<ResnetBlock>> blocks() {
        return blocks;
    }

    public AttnBlock midAttention() {
        return midAttn1;
    }

    // z [B, z_channels, h, w] -> image [B, out_ch, h·f, w·f], f = the downsampling factor
    public NDArray forward(NDArray z) {
        NDArray h = convIn.forward(z);
        // middle
        h = step(h, midBlock1::forward);
        h = step(h, midAttn1::forward);
        h = step(h, midBlock2::forward);
        // upsampling
        for (int level = params.levels() - 1; level >= 0; level--) {
            for (ResnetBlock block : blocks.get(level)) h = step(h, block::forward);
            if (level != 0) h = step(h, upsamples.get(level)::forward);
        }
        return step(h, this::end);
    }

    // h [B, C, H, W] -> conv_out(swish(norm_out(h)))
    private NDArray end(NDArray h) {
        try (NDArray a = VaeNn.swishInPlace(normOut.forward(h))) {
            return convOut.forward(a);
        }
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(convIn.params());
        out.putAll(midBlock1.params());
        out.putAll(midAttn1.params());
        out.putAll(midBlock2.params());
        for (int level = params.levels() - 1; level >= 0; level--) {
            for (ResnetBlock b : blocks.get(level)) out.putAll(b.params());
            if (level != 0) out.putAll(upsamples.get(level).params());
        }
        out.putAll(normOut.params());
        out.putAll(convOut.params());
    }
}
