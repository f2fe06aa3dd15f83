package fastflux.pipeline.clip;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The CLIP text tower's architecture, under Hugging Face {@code CLIPTextConfig}'s field names.
 *
 * @param vocabSize {@code vocab_size}: rows of the token embedding
 * @param hiddenSize {@code hidden_size}: width of the residual stream
 * @param intermediateSize {@code intermediate_size}: width of each layer's MLP
 * @param numHiddenLayers {@code num_hidden_layers}: encoder layers
 * @param numAttentionHeads {@code num_attention_heads}: heads per layer; must divide {@code hidden_size}
 * @param maxPositionEmbeddings {@code max_position_embeddings}: the longest token sequence (77 for CLIP)
 * @param layerNormEps {@code layer_norm_eps}: epsilon of every LayerNorm (default 1e-5)
 * @param hiddenAct {@code hidden_act}: the MLP activation, {@code quick_gelu} (default) or {@code gelu}
 * @param bosTokenId {@code bos_token_id}
 * @param eosTokenId {@code eos_token_id}: the token whose first occurrence is pooled; 2 selects Hugging Face's
 *     legacy rule (the position of the largest id), which the original CLIP configs rely on
 * @param padTokenId {@code pad_token_id}
 */
public record ClipTextConfig(int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers,
                             int numAttentionHeads, int maxPositionEmbeddings, double layerNormEps, String hiddenAct,
                             int bosTokenId, int eosTokenId, int padTokenId) {

    /** The activations the MLP implements. */
    public static final Set<String> ACTIVATIONS = Set.of("quick_gelu", "gelu");

    /** The eos id under which Hugging Face pools at {@code argmax(input_ids)} instead of the first eos. */
    public static final int LEGACY_EOS_TOKEN_ID = 2;

    public ClipTextConfig {
        List<String> problems = new ArrayList<>();
        positive(problems, "vocab_size", vocabSize);
        positive(problems, "hidden_size", hiddenSize);
        positive(problems, "intermediate_size", intermediateSize);
        positive(problems, "num_hidden_layers", numHiddenLayers);
        positive(problems, "num_attention_heads", numAttentionHeads);
        positive(problems, "max_position_embeddings", maxPositionEmbeddings);
        encoderProblems(problems, hiddenSize, numAttentionHeads, layerNormEps, hiddenAct);
        tokenId(problems, "bos_token_id", bosTokenId, vocabSize);
        tokenId(problems, "eos_token_id", eosTokenId, vocabSize);
        tokenId(problems, "pad_token_id", padTokenId, vocabSize);
        if (!problems.isEmpty()) throw new IllegalArgumentException(String.join("; ", problems));
    }

    /** FLUX.1's text encoder: OpenAI CLIP ViT-L/14's text tower ({@code openai/clip-vit-large-patch14}). */
    public static ClipTextConfig clipL() {
        return new ClipTextConfig(49408, 768, 3072, 12, 12, 77, 1e-5, "quick_gelu", 0, 2, 1);
    }

    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** Whether pooling reads the position of the largest id rather than the first {@link #eosTokenId}. */
    public boolean legacyPooling() {
        return eosTokenId == LEGACY_EOS_TOKEN_ID;
    }

    /**
     * Reads a {@code config.json}: a {@code CLIPTextModel}'s, or a {@code CLIPModel}'s whose {@code text_config}
     * holds the text tower. Fields Hugging Face gives defaults to may be absent; every problem is named with the file.
     */
    public static ClipTextConfig read(Path file) {
        JsonElement root;
        try {
            root = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e, e);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (!root.isJsonObject()) throw new IllegalArgumentException(file + ": not a JSON object");
        JsonObject o = root.getAsJsonObject();
        if (o.has("text_config") && o.get("text_config").isJsonObject()) o = o.getAsJsonObject("text_config");
        try {
            return fromJson(o);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** The text tower from {@code CLIPTextConfig} fields; absent optional fields take Hugging Face's defaults. */
    public static ClipTextConfig fromJson(JsonObject o) {
        List<String> problems = new ArrayList<>();
        int vocab = integer(o, "vocab_size", null, problems);
        int hidden = integer(o, "hidden_size", null, problems);
        int intermediate = integer(o, "intermediate_size", null, problems);
        int layers = integer(o, "num_hidden_layers", null, problems);
        int heads = integer(o, "num_attention_heads", null, problems);
        int positions = integer(o, "max_position_embeddings", 77, problems);
        double eps = 1e-5;
        if (o.has("layer_norm_eps")) {
            JsonElement e = o.get("layer_norm_eps");
            if (isNumber(e)) eps = e.getAsDouble();
            else problems.add("\"layer_norm_eps\" is not a number: " + e);
        }
        String act = "quick_gelu";
        if (o.has("hidden_act")) {
            JsonElement e = o.get("hidden_act");
            if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isString()) act = e.getAsString();
            else problems.add("\"hidden_act\" is not a string: " + e);
        }
        int bos = integer(o, "bos_token_id", 49406, problems);
        int eos = integer(o, "eos_token_id", 49407, problems);
        int pad = integer(o, "pad_token_id", 1, problems);
        if (!problems.isEmpty()) throw new IllegalArgumentException(String.join("; ", problems));
        return new ClipTextConfig(vocab, hidden, intermediate, layers, heads, positions, eps, act, bos, eos, pad);
    }

    private static int integer(JsonObject o, String field, Integer fallback, List<String> problems) {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) {
            if (fallback == null) problems.add("missing \"" + field + "\"");
            return fallback == null ? 0 : fallback;
        }
        if (!isNumber(e) || e.getAsDouble() != Math.rint(e.getAsDouble()) || Math.abs(e.getAsDouble()) > Integer.MAX_VALUE) {
            problems.add("\"" + field + "\" must be an integer, got " + e);
            return fallback == null ? 0 : fallback;
        }
        return e.getAsInt();
    }

    private static boolean isNumber(JsonElement e) {
        return e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber();
    }

    /** What is wrong with the settings both towers' encoder layers share: heads, layer-norm epsilon, activation. */
    static void encoderProblems(List<String> problems, int hiddenSize, int numAttentionHeads, double layerNormEps,
                                String hiddenAct) {
        if (hiddenSize > 0 && numAttentionHeads > 0 && hiddenSize % numAttentionHeads != 0) {
            problems.add("\"hidden_size\" " + hiddenSize + " is not a multiple of \"num_attention_heads\" "
                    + numAttentionHeads);
        }
        if (!(layerNormEps > 0) || !Double.isFinite(layerNormEps)) {
            problems.add("\"layer_norm_eps\" must be a positive number, got " + layerNormEps);
        }
        if (hiddenAct == null || !ACTIVATIONS.contains(hiddenAct)) {
            problems.add("\"hidden_act\" " + hiddenAct + " is not one of " + ACTIVATIONS);
        }
    }

    static void positive(List<String> problems, String field, int v) {
        if (v <= 0) problems.add("\"" + field + "\" must be positive, got " + v);
    }

    private static void tokenId(List<String> problems, String field, int id, int vocab) {
        if (id < 0 || (vocab > 0 && id >= vocab)) {
            problems.add("\"" + field + "\" " + id + " is outside the vocabulary 0.." + (vocab - 1));
        }
    }
}
