package fastflux.pipeline.clip;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;

/**
 * The CLIP vision tower's architecture, under Hugging Face {@code CLIPVisionConfig}'s field names.
 *
 * @param hiddenSize {@code hidden_size}: width of the residual stream (1024 for ViT-L/14)
 * @param intermediateSize {@code intermediate_size}: width of each layer's MLP
 * @param numHiddenLayers {@code num_hidden_layers}: encoder layers
 * @param numAttentionHeads {@code num_attention_heads}: heads per layer; must divide {@code hidden_size}
 * @param numChannels {@code num_channels}: input channels (default 3)
 * @param imageSize {@code image_size}: the square input's side in pixels (224 for ViT-L/14)
 * @param patchSize {@code patch_size}: side of a patch, the patch embedding's kernel and stride (14 for ViT-L/14)
 * @param layerNormEps {@code layer_norm_eps}: epsilon of every LayerNorm (default 1e-5)
 * @param hiddenAct {@code hidden_act}: the MLP activation, {@code quick_gelu} (default) or {@code gelu}
 */
public record ClipVisionConfig(int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
                               int numChannels, int imageSize, int patchSize, double layerNormEps,
                               String hiddenAct) {

    public ClipVisionConfig {
        List<String> problems = new ArrayList<>();
        ClipTextConfig.positive(problems, "hidden_size", hiddenSize);
        ClipTextConfig.positive(problems, "intermediate_size", intermediateSize);
        ClipTextConfig.positive(problems, "num_hidden_layers", numHiddenLayers);
        ClipTextConfig.positive(problems, "num_attention_heads", numAttentionHeads);
        ClipTextConfig.positive(problems, "num_channels", numChannels);
        ClipTextConfig.positive(problems, "image_size", imageSize);
        ClipTextConfig.positive(problems, "patch_size", patchSize);
        if (patchSize > 0 && imageSize > 0 && patchSize > imageSize) {
            problems.add("\"patch_size\" " + patchSize + " is larger than \"image_size\" " + imageSize);
        }
        ClipTextConfig.encoderProblems(problems, hiddenSize, numAttentionHeads, layerNormEps, hiddenAct);
        if (!problems.isEmpty()) throw new IllegalArgumentException(String.join("; ", problems));
    }

    /** OpenAI CLIP ViT-L/14's vision tower ({@code openai/clip-vit-large-patch14}). */
    public static ClipVisionConfig clipL() {
        return new ClipVisionConfig(1024, 4096, 24, 16, 3, 224, 14, 1e-5, "quick_gelu");
    }

    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** Patches per side: the patch embedding's output grid is this square ({@code image_size // patch_size}). */
    public int gridSize() {
        return imageSize / patchSize;
    }

    /** Tokens of the encoder: the class token and one per patch. */
    public int numPositions() {
        return gridSize() * gridSize() + 1;
    }

    /**
     * The vision tower from {@code CLIPVisionConfig} fields: the sizes are required, {@code num_channels},
     * {@code layer_norm_eps} and {@code hidden_act} take Hugging Face's defaults when absent.
     */
    public static ClipVisionConfig fromJson(JsonObject o) {
        List<String> problems = new ArrayList<>();
        int hidden = ClipJson.integer(o, "hidden_size", null, problems);
        int intermediate = ClipJson.integer(o, "intermediate_size", null, problems);
        int layers = ClipJson.integer(o, "num_hidden_layers", null, problems);
        int heads = ClipJson.integer(o, "num_attention_heads", null, problems);
        int channels = ClipJson.integer(o, "num_channels", 3, problems);
        int image = ClipJson.integer(o, "image_size", null, problems);
        int patch = ClipJson.integer(o, "patch_size", null, problems);
        double eps = 1e-5;
        if (o.has("layer_norm_eps")) {
            JsonElement e = o.get("layer_norm_eps");
            if (ClipJson.isNumber(e)) eps = e.getAsDouble();
            else problems.add("\"layer_norm_eps\" is not a number: " + e);
        }
        String act = "quick_gelu";
        if (o.has("hidden_act")) {
            JsonElement e = o.get("hidden_act");
            if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isString()) act = e.getAsString();
            else problems.add("\"hidden_act\" is not a string: " + e);
        }
        if (!problems.isEmpty()) throw new IllegalArgumentException(String.join("; ", problems));
        return new ClipVisionConfig(hidden, intermediate, layers, heads, channels, image, patch, eps, act);
    }
}
