package fastflux.pipeline.layout;

import fastflux.model.BlockId;
import fastflux.model.FluxParams;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where each tensor of a BFL checkpoint lives in a diffusers {@code FluxTransformer2DModel}: the inverse of
 * diffusers' {@code scripts/convert_flux_to_diffusers.py}. A BFL tensor is one diffusers tensor renamed, several
 * concatenated along their first dimension (the fused q/k/v projections and a single block's {@code linear1}), or
 * the two halves of one swapped ({@code final_layer.adaLN_modulation.1}: diffusers' {@code norm_out} applies
 * scale then shift, BFL shift then scale).
 */
public final class DiffusersKeys {
    private DiffusersKeys() {}

    /**
     * Rows {@code [from, from + count)} of the diffusers tensor {@code key}, whose first dimension is
     * {@code sourceRows} (its other dimensions are the BFL tensor's).
     */
    public record Rows(String key, long sourceRows, long from, long count) {}

    private static final Map<String, String> TOP = new LinkedHashMap<>();
    private static final Map<String, String> DOUBLE = new LinkedHashMap<>();
    private static final Map<String, String> SINGLE = new LinkedHashMap<>();

    static {
        TOP.put("img_in.", "x_embedder.");
        TOP.put("txt_in.", "context_embedder.");
        TOP.put("time_in.in_layer.", "time_text_embed.timestep_embedder.linear_1.");
        TOP.put("time_in.out_layer.", "time_text_embed.timestep_embedder.linear_2.");
        TOP.put("vector_in.in_layer.", "time_text_embed.text_embedder.linear_1.");
        TOP.put("vector_in.out_layer.", "time_text_embed.text_embedder.linear_2.");
        TOP.put("guidance_in.in_layer.", "time_text_embed.guidance_embedder.linear_1.");
        TOP.put("guidance_in.out_layer.", "time_text_embed.guidance_embedder.linear_2.");
        TOP.put("final_layer.linear.", "proj_out.");

        DOUBLE.put("img_mod.lin.", "norm1.linear.");
        DOUBLE.put("txt_mod.lin.", "norm1_context.linear.");
        DOUBLE.put("img_attn.proj.", "attn.to_out.0.");
        DOUBLE.put("txt_attn.proj.", "attn.to_add_out.");
        DOUBLE.put("img_mlp.0.", "ff.net.0.proj.");
        DOUBLE.put("img_mlp.2.", "ff.net.2.");
        DOUBLE.put("txt_mlp.0.", "ff_context.net.0.proj.");
        DOUBLE.put("txt_mlp.2.", "ff_context.net.2.");
        // a replaced block's linears (fastflux's own, docs/export-format.md): same leaf names under diffusers' prefix
        DOUBLE.put("img_linear.", "img_linear.");
        DOUBLE.put("txt_linear.", "txt_linear.");

        SINGLE.put("modulation.lin.", "norm.linear.");
        SINGLE.put("linear2.", "proj_out.");
        SINGLE.put("linear.", "linear.");
    }

    private static final Pattern DIFFUSERS_BLOCK = Pattern.compile("(transformer_blocks|single_transformer_blocks)\\.(\\d+)");

    /** A block's name in diffusers: {@code double_blocks.3} is {@code transformer_blocks.3}, {@code single_blocks.0} {@code single_transformer_blocks.0}. */
    public static String diffusersBlock(BlockId block) {
        return (block.kind() == BlockId.Kind.DOUBLE ? "transformer_blocks." : "single_transformer_blocks.") + block.index();
    }

    /**
     * The BFL name of a diffusers block name ({@code transformer_blocks.3} -> {@code double_blocks.3}).
     *
     * @throws IllegalArgumentException for a name that is not a diffusers block
     */
    public static String bflBlock(String diffusersBlock) {
        Matcher m = DIFFUSERS_BLOCK.matcher(diffusersBlock);
        if (!m.matches()) {
            throw new IllegalArgumentException("\"" + diffusersBlock + "\" is not a diffusers block name "
                    + "(transformer_blocks.N or single_transformer_blocks.N)");
        }
        return (m.group(1).equals("transformer_blocks") ? "double_blocks." : "single_blocks.") + m.group(2);
    }

    private static final Pattern BLOCK = Pattern.compile("(double_blocks|single_blocks)\\.(\\d+)\\.(.+)");

    /**
     * The diffusers rows that make up the BFL tensor {@code bflName} of shape {@code bflShape}, in order.
     *
     * @throws IllegalArgumentException for a name with no diffusers counterpart
     */
    public static List<Rows> sources(String bflName, long[] bflShape, FluxParams p) {
        long all = bflShape.length == 0 ? 1 : bflShape[0];
        long h = p.hiddenSize();
        Matcher m = BLOCK.matcher(bflName);
        if (!m.matches()) {
            if (bflName.startsWith("final_layer.adaLN_modulation.1.")) {
                String key = "norm_out.linear." + leaf(bflName);
                long half = all / 2;
                return List.of(new Rows(key, all, half, half), new Rows(key, all, 0, half));
            }
            return renamed(bflName, "", TOP, all, bflName);
        }
        String rest = m.group(3);
        if (m.group(1).equals("double_blocks")) {
            String prefix = "transformer_blocks." + m.group(2) + ".";
            return switch (rest) {
                case "img_attn.qkv.weight", "img_attn.qkv.bias" ->
                        parts(prefix, leaf(rest), h, "attn.to_q.", "attn.to_k.", "attn.to_v.");
                case "txt_attn.qkv.weight", "txt_attn.qkv.bias" ->
                        parts(prefix, leaf(rest), h, "attn.add_q_proj.", "attn.add_k_proj.", "attn.add_v_proj.");
                case "img_attn.norm.query_norm.scale" -> whole(prefix + "attn.norm_q.weight", all);
                case "img_attn.norm.key_norm.scale" -> whole(prefix + "attn.norm_k.weight", all);
                case "txt_attn.norm.query_norm.scale" -> whole(prefix + "attn.norm_added_q.weight", all);
                case "txt_attn.norm.key_norm.scale" -> whole(prefix + "attn.norm_added_k.weight", all);
                default -> renamed(rest, prefix, DOUBLE, all, bflName);
            };
        }
        String prefix = "single_transformer_blocks." + m.group(2) + ".";
        return switch (rest) {
            case "linear1.weight", "linear1.bias" -> {
                List<Rows> qkv = new ArrayList<>(parts(prefix, leaf(rest), h, "attn.to_q.", "attn.to_k.", "attn.to_v."));
                qkv.add(new Rows(prefix + "proj_mlp." + leaf(rest), all - 3 * h, 0, all - 3 * h));
                yield qkv;
            }
            case "norm.query_norm.scale" -> whole(prefix + "attn.norm_q.weight", all);
            case "norm.key_norm.scale" -> whole(prefix + "attn.norm_k.weight", all);
            default -> renamed(rest, prefix, SINGLE, all, bflName);
        };
    }

    private static String leaf(String name) {
        return name.substring(name.lastIndexOf('.') + 1);
    }

    private static List<Rows> whole(String key, long rows) {
        return List.of(new Rows(key, rows, 0, rows));
    }

    private static List<Rows> parts(String prefix, String leaf, long rows, String... modules) {
        List<Rows> out = new ArrayList<>();
        for (String module : modules) out.add(new Rows(prefix + module + leaf, rows, 0, rows));
        return out;
    }

    private static List<Rows> renamed(String name, String prefix, Map<String, String> table, long rows,
                                      String bflName) {
        for (var e : table.entrySet()) {
            if (name.startsWith(e.getKey())) {
                return whole(prefix + e.getValue() + name.substring(e.getKey().length()), rows);
            }
        }
        throw new IllegalArgumentException("no diffusers counterpart for the BFL tensor " + bflName);
    }
}
