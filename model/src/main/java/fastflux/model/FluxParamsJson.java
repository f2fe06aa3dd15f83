package fastflux.model;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** {@link FluxParams} to and from the reference's JSON field names; every problem is named. */
public final class FluxParamsJson {
    private FluxParamsJson() {}

    private static final Set<String> FIELDS = Set.of("in_channels", "out_channels", "vec_in_dim", "context_in_dim",
            "hidden_size", "mlp_ratio", "num_heads", "depth", "depth_single_blocks", "axes_dim", "theta", "qkv_bias",
            "guidance_embed");

    public static FluxParams fromJson(JsonObject o, String where) {
        List<String> problems = new ArrayList<>();
        for (String f : FIELDS) if (!o.has(f)) problems.add("missing \"" + f + "\"");
        for (String k : o.keySet()) if (!FIELDS.contains(k)) problems.add("unknown field \"" + k + "\"");
        if (!problems.isEmpty()) throw new IllegalArgumentException(where + ": params: " + String.join(", ", problems));
        try {
            JsonArray axes = o.getAsJsonArray("axes_dim");
            int[] axesDim = new int[axes.size()];
            for (int i = 0; i < axesDim.length; i++) axesDim[i] = axes.get(i).getAsInt();
            return new FluxParams(num(o, "in_channels"), num(o, "out_channels"), num(o, "vec_in_dim"),
                    num(o, "context_in_dim"), num(o, "hidden_size"), o.get("mlp_ratio").getAsDouble(),
                    num(o, "num_heads"), num(o, "depth"), num(o, "depth_single_blocks"), axesDim, num(o, "theta"),
                    o.get("qkv_bias").getAsBoolean(), o.get("guidance_embed").getAsBoolean());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        } catch (ClassCastException | IllegalStateException | UnsupportedOperationException e) {
            throw new IllegalArgumentException(where + ": params: a field has the wrong type: " + e.getMessage(), e);
        }
    }

    private static int num(JsonObject o, String f) {
        JsonElement e = o.get(f);
        double d = e.getAsDouble();
        if (d != Math.rint(d)) throw new IllegalArgumentException("params: \"" + f + "\" must be an integer, got " + e);
        return (int) d;
    }

    public static JsonObject toJson(FluxParams p) {
        JsonObject o = new JsonObject();
        o.addProperty("in_channels", p.inChannels());
        o.addProperty("out_channels", p.outChannels());
        o.addProperty("vec_in_dim", p.vecInDim());
        o.addProperty("context_in_dim", p.contextInDim());
        o.addProperty("hidden_size", p.hiddenSize());
        o.addProperty("mlp_ratio", p.mlpRatio());
        o.addProperty("num_heads", p.numHeads());
        o.addProperty("depth", p.depth());
        o.addProperty("depth_single_blocks", p.depthSingleBlocks());
        JsonArray axes = new JsonArray();
        for (int a : p.axesDim()) axes.add(a);
        o.add("axes_dim", axes);
        o.addProperty("theta", p.theta());
        o.addProperty("qkv_bias", p.qkvBias());
        o.addProperty("guidance_embed", p.guidanceEmbed());
        return o;
    }
}
