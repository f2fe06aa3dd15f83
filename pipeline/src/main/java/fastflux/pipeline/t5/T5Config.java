package fastflux.pipeline.t5;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The architecture of a T5 v1.1 encoder, under the field names of Hugging Face's {@code T5Config} ({@code config.json}).
 *
 * @param vocabSize {@code vocab_size}: rows of the token embedding {@code shared.weight}
 * @param dModel {@code d_model}: width of the residual stream
 * @param dKv {@code d_kv}: width of one attention head
 * @param dFf {@code d_ff}: width of the gated feed-forward layer
 * @param numLayers {@code num_layers}: encoder blocks
 * @param numHeads {@code num_heads}: attention heads
 * @param relativeAttentionNumBuckets {@code relative_attention_num_buckets}: buckets of the relative position bias,
 *     half for keys before the query and half for keys after it
 * @param relativeAttentionMaxDistance {@code relative_attention_max_distance} (default 128): distances from here on
 *     share the last bucket
 * @param layerNormEpsilon {@code layer_norm_epsilon} (default 1e-6): added to the RMS norms' mean square
 * @param feedForwardProj {@code feed_forward_proj}: only {@code gated-gelu} (T5 v1.1, as FLUX.1 uses) is supported
 */
public record T5Config(int vocabSize, int dModel, int dKv, int dFf, int numLayers, int numHeads,
                       int relativeAttentionNumBuckets, int relativeAttentionMaxDistance, double layerNormEpsilon,
                       String feedForwardProj) {

    /** The text encoder of FLUX.1 ({@code google/t5-v1_1-xxl}, encoder only). */
    public static final T5Config T5_V1_1_XXL = new T5Config(32128, 4096, 64, 10240, 24, 64, 32, 128, 1e-6, "gated-gelu");

    public static final String GATED_GELU = "gated-gelu";

    public T5Config {
        List<String> problems = new ArrayList<>();
        positive(problems, "vocab_size", vocabSize);
        positive(problems, "d_model", dModel);
        positive(problems, "d_kv", dKv);
        positive(problems, "d_ff", dFf);
        positive(problems, "num_layers", numLayers);
        positive(problems, "num_heads", numHeads);
        // Bidirectional buckets: half per direction, and each half's exact range (a quarter) must be non-empty.
        if (relativeAttentionNumBuckets < 4 || relativeAttentionNumBuckets % 2 != 0) {
            problems.add("\"relative_attention_num_buckets\" must be even and at least 4, got " + relativeAttentionNumBuckets);
        } else if (relativeAttentionMaxDistance <= relativeAttentionNumBuckets / 4) {
            problems.add("\"relative_attention_max_distance\" must exceed relative_attention_num_buckets / 4 = "
                    + relativeAttentionNumBuckets / 4 + ", got " + relativeAttentionMaxDistance);
        }
        if (!(layerNormEpsilon > 0) || Double.isInfinite(layerNormEpsilon)) {
            problems.add("\"layer_norm_epsilon\" must be a positive number, got " + layerNormEpsilon);
        }
        if (!GATED_GELU.equals(feedForwardProj)) {
            problems.add("\"feed_forward_proj\" must be \"" + GATED_GELU + "\" (T5 v1.1), got \"" + feedForwardProj + "\"");
        }
        if (!problems.isEmpty()) throw new IllegalArgumentException("T5 config: " + String.join("; ", problems));
    }

    private static void positive(List<String> problems, String field, int v) {
        if (v <= 0) problems.add("\"" + field + "\" must be a positive integer, got " + v);
    }

    /** Width of the attention's q, k, v projections: all heads together. */
    public int innerDim() {
        return numHeads * dKv;
    }

    /** Reads and validates a Hugging Face {@code config.json}; every error names the file and the fields. */
    public static T5Config read(Path configJson) {
        JsonElement root;
        try (Reader r = Files.newBufferedReader(configJson)) {
            root = JsonParser.parseReader(r);
        } catch (IOException e) {
            throw new IllegalArgumentException(configJson + ": cannot read the T5 config: " + e, e);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(configJson + ": not valid JSON: " + e.getMessage(), e);
        }
        if (!root.isJsonObject()) throw new IllegalArgumentException(configJson + ": the T5 config is not a JSON object");
        try {
            return fromJson(root.getAsJsonObject());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(configJson + ": " + e.getMessage(), e);
        }
    }

    /** The config from the JSON object; fields other than these (dropout, decoder settings, ...) are ignored. */
    public static T5Config fromJson(JsonObject o) {
        List<String> problems = new ArrayList<>();
        int vocab = integer(o, "vocab_size", null, problems);
        int dModel = integer(o, "d_model", null, problems);
        int dKv = integer(o, "d_kv", null, problems);
        int dFf = integer(o, "d_ff", null, problems);
        int layers = integer(o, "num_layers", null, problems);
        int heads = integer(o, "num_heads", null, problems);
        int buckets = integer(o, "relative_attention_num_buckets", null, problems);
        int maxDistance = integer(o, "relative_attention_max_distance", 128, problems);
        double eps = 1e-6;
        if (o.has("layer_norm_epsilon")) {
            JsonElement e = o.get("layer_norm_epsilon");
            if (isNumber(e)) eps = e.getAsDouble();
            else problems.add("\"layer_norm_epsilon\" must be a number, got " + e);
        }
        String ff = null;
        if (!o.has("feed_forward_proj")) problems.add("missing \"feed_forward_proj\"");
        else if (o.get("feed_forward_proj").isJsonPrimitive() && o.get("feed_forward_proj").getAsJsonPrimitive().isString()) {
            ff = o.get("feed_forward_proj").getAsString();
        } else problems.add("\"feed_forward_proj\" must be a string, got " + o.get("feed_forward_proj"));
        if (!problems.isEmpty()) throw new IllegalArgumentException("T5 config: " + String.join("; ", problems));
        return new T5Config(vocab, dModel, dKv, dFf, layers, heads, buckets, maxDistance, eps, ff);
    }

    private static boolean isNumber(JsonElement e) {
        return e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber();
    }

    private static int integer(JsonObject o, String field, Integer dflt, List<String> problems) {
        if (!o.has(field) || o.get(field).isJsonNull()) {
            if (dflt == null) problems.add("missing \"" + field + "\"");
            return dflt == null ? 0 : dflt;
        }
        JsonElement e = o.get(field);
        if (!isNumber(e) || e.getAsDouble() != Math.rint(e.getAsDouble()) || Math.abs(e.getAsDouble()) > Integer.MAX_VALUE) {
            problems.add("\"" + field + "\" must be an integer, got " + e);
            return 0;
        }
        return (int) e.getAsDouble();
    }
}
