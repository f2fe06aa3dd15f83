package fastflux.pipeline.vae;

import ai.djl.ndarray.types.Shape;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How a checkpoint names the autoencoder's tensors. The model's own names are BFL's ({@code ae.safetensors});
 * {@link #fileKey} gives a tensor's name in the file, {@link #fileShape} its shape there.
 */
public enum AutoEncoderLayout {
    /** BFL's {@code ae.safetensors}: the reference's module names, 1x1 convolutions in the mid attention. */
    BFL,
    /**
     * diffusers' {@code AutoencoderKL} ({@code vae/diffusion_pytorch_model.safetensors}), as its
     * {@code convert_ldm_vae_checkpoint} names it: {@code down.i.block.j} = {@code down_blocks.i.resnets.j},
     * {@code up.i} = {@code up_blocks.(n-1-i)} (diffusers counts decoder levels from the deepest),
     * {@code downsample} / {@code upsample} = {@code downsamplers.0} / {@code upsamplers.0}, {@code mid.block_1/2} =
     * {@code mid_block.resnets.0/1}, {@code mid.attn_1} = {@code mid_block.attentions.0} with {@code norm} =
     * {@code group_norm} and the q, k, v, proj_out 1x1 convolutions as [C, C] linears {@code to_q, to_k, to_v,
     * to_out.0}, {@code nin_shortcut} = {@code conv_shortcut}, {@code norm_out} = {@code conv_norm_out}.
     */
    DIFFUSERS;

    private static final Pattern DOWN_BLOCK = Pattern.compile("encoder\\.down\\.(\\d+)\\.block\\.(\\d+)\\.(.+)");
    private static final Pattern DOWNSAMPLE = Pattern.compile("encoder\\.down\\.(\\d+)\\.downsample\\.(.+)");
    private static final Pattern UP_BLOCK = Pattern.compile("decoder\\.up\\.(\\d+)\\.block\\.(\\d+)\\.(.+)");
    private static final Pattern UPSAMPLE = Pattern.compile("decoder\\.up\\.(\\d+)\\.upsample\\.(.+)");
    private static final Pattern MID_BLOCK = Pattern.compile("(encoder|decoder)\\.mid\\.block_(\\d+)\\.(.+)");
    private static final Pattern MID_ATTN = Pattern.compile("(encoder|decoder)\\.mid\\.attn_1\\.([a-z_]+)\\.(.+)");
    private static final Pattern NORM_OUT = Pattern.compile("(encoder|decoder)\\.norm_out\\.(.+)");
    private static final Map<String, String> ATTN_NAMES =
            Map.of("norm", "group_norm", "q", "to_q", "k", "to_k", "v", "to_v", "proj_out", "to_out.0");

    /** The name in this layout of the model tensor {@code name} (BFL's), for a model of {@code levels} levels. */
    public String fileKey(String name, int levels) {
        if (this == BFL) return name;
        Matcher m;
        if ((m = DOWN_BLOCK.matcher(name)).matches()) {
            return "encoder.down_blocks." + m.group(1) + ".resnets." + m.group(2) + "." + resnetPart(m.group(3));
        }
        if ((m = DOWNSAMPLE.matcher(name)).matches()) return "encoder.down_blocks." + m.group(1) + ".downsamplers.0." + m.group(2);
        if ((m = UP_BLOCK.matcher(name)).matches()) {
            return "decoder.up_blocks." + (levels - 1 - Integer.parseInt(m.group(1))) + ".resnets." + m.group(2) + "."
                    + resnetPart(m.group(3));
        }
        if ((m = UPSAMPLE.matcher(name)).matches()) {
            return "decoder.up_blocks." + (levels - 1 - Integer.parseInt(m.group(1))) + ".upsamplers.0." + m.group(2);
        }
        if ((m = MID_BLOCK.matcher(name)).matches()) {
            return m.group(1) + ".mid_block.resnets." + (Integer.parseInt(m.group(2)) - 1) + "." + resnetPart(m.group(3));
        }
        if ((m = MID_ATTN.matcher(name)).matches()) {
            String part = ATTN_NAMES.get(m.group(2));
            if (part == null) throw new IllegalArgumentException("no diffusers name for " + name);
            return m.group(1) + ".mid_block.attentions.0." + part + "." + m.group(3);
        }
        if ((m = NORM_OUT.matcher(name)).matches()) return m.group(1) + ".conv_norm_out." + m.group(2);
        return name; // conv_in, conv_out
    }

    private static String resnetPart(String rest) {
        return rest.startsWith("nin_shortcut.") ? "conv_shortcut." + rest.substring("nin_shortcut.".length()) : rest;
    }

    /** The shape the file stores model tensor {@code name} of shape {@code shape} in. */
    public Shape fileShape(String name, Shape shape) {
        if (this == DIFFUSERS && MID_ATTN.matcher(name).matches() && shape.dimension() == 4) {
            return new Shape(shape.get(0), shape.get(1)); // a 1x1 convolution's weight as a linear's
        }
        return shape;
    }
}
