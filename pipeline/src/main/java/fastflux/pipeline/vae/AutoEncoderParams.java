package fastflux.pipeline.vae;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The whole autoencoder architecture in one value, with the reference's field names ({@code AutoEncoderParams} of
 * BFL's {@code flux/modules/autoencoder.py}). Named configs live in {@link #named(String)}.
 *
 * @param resolution the training image size; recorded, not used by the forward (any size divisible by
 *     {@link #downsamplingFactor()} runs)
 * @param inChannels image channels the encoder reads (3)
 * @param ch base channel count; level i has {@code ch * chMult[i]} channels
 * @param outCh image channels the decoder writes (3)
 * @param chMult channel multiplier per resolution level; every level but the last halves the resolution
 * @param numResBlocks ResNet blocks per encoder level (the decoder has one more per level)
 * @param zChannels latent channels (16 in FLUX.1); the encoder emits twice as many (mean and log-variance)
 * @param scaleFactor latents are {@code (z - shift) * scale}
 * @param shiftFactor see {@code scaleFactor}
 */
public record AutoEncoderParams(
        int resolution,
        int inChannels,
        int ch,
        int outCh,
        int[] chMult,
        int numResBlocks,
        int zChannels,
        double scaleFactor,
        double shiftFactor) {

    /** Group norm's group count, fixed in the reference. */
    public static final int NORM_GROUPS = 32;

    public AutoEncoderParams {
        require(resolution > 0, "resolution must be positive, got " + resolution);
        require(inChannels > 0 && outCh > 0, "in_channels and out_ch must be positive");
        require(ch > 0, "ch must be positive, got " + ch);
        require(chMult != null && chMult.length > 0, "ch_mult must list at least one level");
        require(Arrays.stream(chMult).allMatch(m -> m > 0), "every ch_mult entry must be positive: " + Arrays.toString(chMult));
        for (int m : chMult) {
            require((long) ch * m % NORM_GROUPS == 0, "ch * ch_mult = " + ch * m
                    + " must be divisible by the " + NORM_GROUPS + " groups of the group norm");
        }
        require(numResBlocks > 0, "num_res_blocks must be positive, got " + numResBlocks);
        require(zChannels > 0, "z_channels must be positive, got " + zChannels);
        require(Double.isFinite(scaleFactor) && scaleFactor != 0, "scale_factor must be finite and non-zero, got " + scaleFactor);
        require(Double.isFinite(shiftFactor), "shift_factor must be finite, got " + shiftFactor);
        chMult = chMult.clone();
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException("invalid AutoEncoderParams: " + message);
    }

    /** The channel multipliers (a copy). */
    @Override
    public int[] chMult() {
        return chMult.clone();
    }

    /** Number of resolution levels, {@code len(ch_mult)}. */
    public int levels() {
        return chMult.length;
    }

    /** Channels at level i, {@code ch * ch_mult[i]}. */
    public int channels(int level) {
        return ch * chMult[level];
    }

    /** Pixels per latent along each side: 2^(levels - 1) (8 for FLUX.1). */
    public int downsamplingFactor() {
        return 1 << (chMult.length - 1);
    }

    /** FLUX.1's autoencoder ({@code ae.safetensors} of flux-dev and flux-schnell). */
    public static final AutoEncoderParams FLUX = new AutoEncoderParams(256, 3, 128, 3, new int[] {1, 2, 4, 4}, 2, 16, 0.3611, 0.1159);

    private static final Map<String, AutoEncoderParams> NAMED = new LinkedHashMap<>();

    static {
        NAMED.put("flux", FLUX);
        NAMED.put("flux-dev", FLUX);
        NAMED.put("flux-schnell", FLUX);
        NAMED.put("tiny", new AutoEncoderParams(32, 3, 32, 3, new int[] {1, 2}, 1, 16, 0.3611, 0.1159));
    }

    /** The named configs, in a stable order. */
    public static List<String> names() {
        return List.copyOf(NAMED.keySet());
    }

    /** @throws IllegalArgumentException naming the known configs */
    public static AutoEncoderParams named(String name) {
        AutoEncoderParams p = NAMED.get(name);
        if (p == null) throw new IllegalArgumentException("unknown autoencoder config '" + name + "' (known: " + String.join(", ", NAMED.keySet()) + ")");
        return p;
    }

    /** From the reference's field names, as in a BFL {@code config.json}'s {@code ae_params}. */
    public static AutoEncoderParams fromJson(JsonObject o) {
        return new AutoEncoderParams(
                intField(o, "resolution"), intField(o, "in_channels"), intField(o, "ch"), intField(o, "out_ch"),
                intArray(o, "ch_mult"), intField(o, "num_res_blocks"), intField(o, "z_channels"),
                doubleField(o, "scale_factor"), doubleField(o, "shift_factor"));
    }

    /** The reference's field names, for a {@code config.json}. */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("resolution", resolution);
        o.addProperty("in_channels", inChannels);
        o.addProperty("ch", ch);
        o.addProperty("out_ch", outCh);
        JsonArray m = new JsonArray();
        for (int v : chMult) m.add(v);
        o.add("ch_mult", m);
        o.addProperty("num_res_blocks", numResBlocks);
        o.addProperty("z_channels", zChannels);
        o.addProperty("scale_factor", scaleFactor);
        o.addProperty("shift_factor", shiftFactor);
        return o;
    }

    /**
     * From a diffusers {@code AutoencoderKL} {@code config.json}: {@code block_out_channels} = ch * ch_mult,
     * {@code layers_per_block} = num_res_blocks, {@code latent_channels} = z_channels, {@code sample_size} =
     * resolution, {@code scaling_factor} and {@code shift_factor} (absent or null: 0). Options the FLUX
     * autoencoder does not have (quant convs, another activation or group count, no mid attention) are refused.
     */
    public static AutoEncoderParams fromDiffusersConfig(JsonObject o) {
        String cls = stringField(o, "_class_name", "AutoencoderKL");
        require(cls.equals("AutoencoderKL"), "_class_name is " + cls + ", expected AutoencoderKL");
        require(stringField(o, "act_fn", "silu").equals("silu"), "act_fn must be silu (swish), got " + stringField(o, "act_fn", "silu"));
        require(intField(o, "norm_num_groups", NORM_GROUPS) == NORM_GROUPS, "norm_num_groups must be " + NORM_GROUPS);
        require(!boolField(o, "use_quant_conv", true) && !boolField(o, "use_post_quant_conv", true),
                "FLUX's autoencoder has no quant_conv / post_quant_conv; set use_quant_conv and use_post_quant_conv to false");
        require(boolField(o, "mid_block_add_attention", true), "mid_block_add_attention must be true");
        int[] blockOut = intArray(o, "block_out_channels");
        require(blockOut.length > 0, "block_out_channels is empty");
        int ch = blockOut[0];
        int[] mult = new int[blockOut.length];
        for (int i = 0; i < blockOut.length; i++) {
            require(ch > 0 && blockOut[i] % ch == 0, "block_out_channels " + Arrays.toString(blockOut)
                    + " must be multiples of the first entry");
            mult[i] = blockOut[i] / ch;
        }
        for (String key : List.of("down_block_types", "up_block_types")) {
            if (!o.has(key)) continue;
            JsonArray types = o.getAsJsonArray(key);
            require(types.size() == blockOut.length, key + " has " + types.size() + " entries, block_out_channels " + blockOut.length);
            String want = key.startsWith("down") ? "DownEncoderBlock2D" : "UpDecoderBlock2D";
            for (JsonElement t : types) require(t.getAsString().equals(want), key + " must all be " + want + ", got " + t.getAsString());
        }
        double shift = o.has("shift_factor") && !o.get("shift_factor").isJsonNull() ? o.get("shift_factor").getAsDouble() : 0.0;
        return new AutoEncoderParams(intField(o, "sample_size", 256), intField(o, "in_channels", 3), ch,
                intField(o, "out_channels", 3), mult, intField(o, "layers_per_block"), intField(o, "latent_channels"),
                doubleField(o, "scaling_factor"), shift);
    }

    private static JsonElement field(JsonObject o, String key) {
        JsonElement e = o.get(key);
        require(e != null && !e.isJsonNull(), "missing field '" + key + "'");
        return e;
    }

    private static int intField(JsonObject o, String key) {
        JsonElement e = field(o, key);
        try {
            return e.getAsInt();
        } catch (RuntimeException ex) {
            throw new IllegalArgumentException("invalid AutoEncoderParams: field '" + key + "' is not an integer: " + e, ex);
        }
    }

    private static int intField(JsonObject o, String key, int fallback) {
        return o.has(key) && !o.get(key).isJsonNull() ? intField(o, key) : fallback;
    }

    private static double doubleField(JsonObject o, String key) {
        JsonElement e = field(o, key);
        try {
            return e.getAsDouble();
        } catch (RuntimeException ex) {
            throw new IllegalArgumentException("invalid AutoEncoderParams: field '" + key + "' is not a number: " + e, ex);
        }
    }

    private static String stringField(JsonObject o, String key, String fallback) {
        return o.has(key) && !o.get(key).isJsonNull() ? o.get(key).getAsString() : fallback;
    }

    private static boolean boolField(JsonObject o, String key, boolean fallback) {
        return o.has(key) && !o.get(key).isJsonNull() ? o.get(key).getAsBoolean() : fallback;
    }

    private static int[] intArray(JsonObject o, String key) {
        JsonElement e = field(o, key);
        require(e.isJsonArray(), "field '" + key + "' is not an array: " + e);
        JsonArray a = e.getAsJsonArray();
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).getAsInt();
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AutoEncoderParams p && resolution == p.resolution && inChannels == p.inChannels && ch == p.ch
                && outCh == p.outCh && Arrays.equals(chMult, p.chMult) && numResBlocks == p.numResBlocks
                && zChannels == p.zChannels && Double.compare(scaleFactor, p.scaleFactor) == 0
                && Double.compare(shiftFactor, p.shiftFactor) == 0;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(resolution, inChannels, ch, outCh, Arrays.hashCode(chMult), numResBlocks, zChannels,
                scaleFactor, shiftFactor);
    }

    @Override
    public String toString() {
        return "AutoEncoderParams[resolution=" + resolution + ", in_channels=" + inChannels + ", ch=" + ch + ", out_ch="
                + outCh + ", ch_mult=" + Arrays.toString(chMult) + ", num_res_blocks=" + numResBlocks + ", z_channels="
                + zChannels + ", scale_factor=" + scaleFactor + ", shift_factor=" + shiftFactor + "]";
    }
}
