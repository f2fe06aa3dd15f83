package fastflux.pipeline.layout;

import fastflux.model.FluxParams;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Transformer checkpoints under the BFL reference's key names ({@code flux1-dev.safetensors}): finding one in a
 * directory by its keys, and telling FLUX.1-dev from FLUX.1-schnell by its weights when no config comes with it.
 */
public final class BflWeights {
    private BflWeights() {}

    /** The key that marks a BFL transformer (FLUX.1 has double blocks; their fused image q/k/v is BFL's alone). */
    public static final String MARKER_KEY = "double_blocks.0.img_attn.qkv.weight";

    /** The BFL autoencoder's file name, which sits beside the transformer and is never taken for it. */
    public static final String AUTOENCODER_FILE = "ae.safetensors";

    /**
     * Whether the header's keys are a BFL transformer's: the marker, or for a pruned export (whose first double block
     * may be a linear, or gone) BFL's embedder and output keys with at least one block.
     */
    public static boolean isTransformer(SafetensorsHeader h) {
        if (!h.contains("img_in.weight")) return false;
        if (h.contains(MARKER_KEY)) return true;
        return h.contains("final_layer.linear.weight")
                && h.tensors().keySet().stream().anyMatch(k -> k.startsWith("double_blocks.") || k.startsWith("single_blocks."));
    }

    /**
     * The BFL transformer file of {@code dir}, recognised by its keys whatever its name; quantized files are
     * refused by name unless an unquantized one is there too.
     *
     * @return null when the directory holds none
     * @throws IllegalArgumentException when several files qualify, or only quantized ones
     */
    public static Path findTransformer(Path dir) {
        List<Path> found = new ArrayList<>();
        IllegalArgumentException quantized = null;
        for (Path file : safetensorsFiles(dir)) {
            if (file.getFileName().toString().equals(AUTOENCODER_FILE)) continue;
            SafetensorsHeader h = SafetensorsHeader.read(file);
            if (!isTransformer(h) && !looksQuantizedTransformer(h)) continue;
            try {
                QuantizedCheckpoints.refuse(h);
                found.add(file);
            } catch (IllegalArgumentException e) {
                if (quantized == null) quantized = e;
            }
        }
        if (found.size() > 1) {
            throw new IllegalArgumentException(dir + " holds several BFL transformer files ("
                    + String.join(", ", found.stream().map(p -> p.getFileName().toString()).toList())
                    + "); keep one, or point at a directory with one");
        }
        if (found.isEmpty() && quantized != null) throw quantized;
        return found.isEmpty() ? null : found.get(0);
    }

    // bitsandbytes stores a quantized weight's state under keys that extend the weight's own name.
    private static boolean looksQuantizedTransformer(SafetensorsHeader h) {
        return h.tensors().keySet().stream().anyMatch(k -> k.startsWith(MARKER_KEY));
    }

    static List<Path> safetensorsFiles(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".safetensors") && Files.isRegularFile(p))
                    .sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
    }

    private static final Pattern BLOCK_INDEX = Pattern.compile("(double_blocks|single_blocks)\\.(\\d+)\\..*");

    /**
     * FLUX.1-dev or FLUX.1-schnell, recognised from the weights: block counts from the highest block indices,
     * widths from the shapes, guidance embedding from {@code guidance_in}. RoPE's axes and theta are not in the
     * weights, so other sizes need a {@code config.json} with {@code params} beside the file.
     *
     * @throws IllegalArgumentException describing what the weights hold when they are neither
     */
    public static FluxParams recognise(SafetensorsHeader h) {
        int depth = 0, single = 0;
        for (String k : h.tensors().keySet()) {
            Matcher m = BLOCK_INDEX.matcher(k);
            if (!m.matches()) continue;
            int n = Integer.parseInt(m.group(2)) + 1;
            if (m.group(1).equals("double_blocks")) depth = Math.max(depth, n);
            else single = Math.max(single, n);
        }
        long[] imgIn = need(h, "img_in.weight");
        long hidden = imgIn[0];
        long headDim = need(h, "double_blocks.0.img_attn.norm.query_norm.scale")[0];
        long mlp = need(h, "double_blocks.0.img_mlp.0.weight")[0];
        String found = "hidden_size " + hidden + ", head_dim " + headDim + ", in_channels " + imgIn[1]
                + ", out_channels " + need(h, "final_layer.linear.weight")[0]
                + ", vec_in_dim " + need(h, "vector_in.in_layer.weight")[1]
                + ", context_in_dim " + need(h, "txt_in.weight")[1] + ", mlp_hidden " + mlp
                + ", depth " + depth + ", depth_single_blocks " + single
                + ", qkv_bias " + h.contains("double_blocks.0.img_attn.qkv.bias")
                + ", guidance_embed " + h.contains("guidance_in.in_layer.weight");
        for (String name : new String[] {"flux-dev", "flux-schnell"}) {
            FluxParams p = FluxParams.named(name);
            String expected = "hidden_size " + p.hiddenSize() + ", head_dim " + p.headDim() + ", in_channels "
                    + p.inChannels() + ", out_channels " + p.outChannels() + ", vec_in_dim " + p.vecInDim()
                    + ", context_in_dim " + p.contextInDim() + ", mlp_hidden " + p.mlpHidden()
                    + ", depth " + p.depth() + ", depth_single_blocks " + p.depthSingleBlocks()
                    + ", qkv_bias " + p.qkvBias() + ", guidance_embed " + p.guidanceEmbed();
            if (expected.equals(found)) return p;
        }
        throw new IllegalArgumentException(h.file() + ": the weights are neither FLUX.1-dev nor FLUX.1-schnell ("
                + found + "); put a config.json with \"params\" beside the file to load other sizes");
    }

    private static long[] need(SafetensorsHeader h, String key) {
        long[] s = h.shape(key);
        if (s == null || s.length == 0) {
            throw new IllegalArgumentException(h.file() + ": a BFL transformer needs " + key
                    + (s == null ? "" : " with a shape, got " + Arrays.toString(s)) + " to recognise its size");
        }
        return s;
    }
}
