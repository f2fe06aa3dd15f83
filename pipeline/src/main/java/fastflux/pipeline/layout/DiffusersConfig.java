package fastflux.pipeline.layout;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import fastflux.model.FluxParams;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import java.util.ArrayList;
import java.util.List;

/**
 * A diffusers {@code FluxTransformer2DModel} config ({@code transformer/config.json}) as {@link FluxParams}.
 * Absent fields take diffusers' defaults (those of FLUX.1-schnell); diffusers fixes the MLP ratio at 4, RoPE's
 * theta at 10000 and the q/k/v biases on, so those are not read. A pruned transformer's config adds
 * {@code "replaced"}, its replaced blocks under diffusers' block names (docs/export-format.md).
 */
public final class DiffusersConfig {
    private DiffusersConfig() {}

    public static FluxParams toParams(JsonObject c, String where) {
        List<String> problems = new ArrayList<>();
        if (c.has("_class_name") && !c.get("_class_name").getAsString().equals("FluxTransformer2DModel")) {
            problems.add("_class_name is " + c.get("_class_name") + ", expected \"FluxTransformer2DModel\"");
        }
        try {
            int patch = num(c, "patch_size", 1, problems);
            if (patch != 1) problems.add("patch_size " + patch + " is not supported (FLUX.1 packs 2x2 patches itself: 1)");
            int in = num(c, "in_channels", 64, problems);
            int out = c.has("out_channels") && !c.get("out_channels").isJsonNull()
                    ? num(c, "out_channels", in, problems) : in;
            int depth = num(c, "num_layers", 19, problems);
            int single = num(c, "num_single_layers", 38, problems);
            int headDim = num(c, "attention_head_dim", 128, problems);
            int heads = num(c, "num_attention_heads", 24, problems);
            int context = num(c, "joint_attention_dim", 4096, problems);
            int pooled = num(c, "pooled_projection_dim", 768, problems);
            boolean guidance = c.has("guidance_embeds") && c.get("guidance_embeds").getAsBoolean();
            int[] axes = {16, 56, 56};
            if (c.has("axes_dims_rope")) {
                JsonArray a = c.getAsJsonArray("axes_dims_rope");
                axes = new int[a.size()];
                for (int i = 0; i < axes.length; i++) axes[i] = a.get(i).getAsInt();
            }
            if (!problems.isEmpty()) throw new IllegalArgumentException(String.join(", ", problems));
            return new FluxParams(in, out, pooled, context, heads * headDim, 4.0, heads, depth, single, axes,
                    10_000, true, guidance);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        } catch (ClassCastException | IllegalStateException | UnsupportedOperationException e) {
            throw new IllegalArgumentException(where + ": a field has the wrong type: " + e.getMessage(), e);
        }
    }

    /**
     * The config's {@code "replaced"} list ({@code {"block": "transformer_blocks.1", "kind": "double", "mode":
     * "linear"}}, diffusers' block names) as replacements of the model's blocks; empty when absent.
     *
     * @throws IllegalArgumentException naming {@code where} and the bad entry
     */
    public static List<Replacement> replaced(JsonObject c, FluxParams p, String where) {
        JsonElement list = c.get(PrunedModels.REPLACED);
        if (list == null || list.isJsonNull()) return List.of();
        try {
            if (!list.isJsonArray()) throw new IllegalArgumentException("\"replaced\" must be a list, got " + list);
            JsonArray bfl = new JsonArray();
            for (int i = 0; i < list.getAsJsonArray().size(); i++) {
                JsonElement e = list.getAsJsonArray().get(i);
                if (!e.isJsonObject()) throw new IllegalArgumentException("replaced[" + i + "]: expected an object, got " + e);
                JsonObject o = e.getAsJsonObject().deepCopy();
                JsonElement block = o.get("block");
                if (block != null && block.isJsonPrimitive()) {
                    try {
                        o.addProperty("block", DiffusersKeys.bflBlock(block.getAsString()));
                    } catch (IllegalArgumentException ex) {
                        throw new IllegalArgumentException("replaced[" + i + "]: " + ex.getMessage(), ex);
                    }
                }
                bfl.add(o);
            }
            JsonObject translated = new JsonObject();
            translated.add(PrunedModels.REPLACED, bfl);
            return PrunedModels.readReplaced(translated, p);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
    }

    /** The {@code "replaced"} list of a diffusers config: {@link PrunedModels#toJson}'s, in diffusers' block names. */
    public static JsonArray replacedJson(List<Replacement> replaced) {
        JsonArray out = PrunedModels.toJson(replaced);
        for (int i = 0; i < out.size(); i++) {
            out.get(i).getAsJsonObject().addProperty("block", DiffusersKeys.diffusersBlock(replaced.get(i).block()));
        }
        return out;
    }

    private static int num(JsonObject c, String field, int dflt, List<String> problems) {
        if (!c.has(field)) return dflt;
        JsonElement e = c.get(field);
        double d = e.getAsDouble();
        if (d != Math.rint(d)) {
            problems.add("\"" + field + "\" must be an integer, got " + e);
            return dflt;
        }
        return (int) d;
    }
}
