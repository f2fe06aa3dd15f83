package fastflux.pipeline.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import fastflux.model.Linear;
import fastflux.model.Param;
import fastflux.model.io.TensorInfo;
import fastflux.pipeline.RgbImage;
import fastflux.pipeline.t5.T5Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A Hugging Face {@code CLIPModel} folder (e.g. {@code openai/clip-vit-large-patch14}): both towers, both
 * projections, the tokenizer and the image processor, giving projected, L2-normalised image and text embeddings
 * and the CLIP score as torchmetrics defines it. Weights are held in fp32 (fp16 and bf16 files are converted per
 * tensor in Java) in a sub-manager of the one given to {@link #load}; {@link #close} frees them. Not for
 * concurrent use. See docs/clip.md.
 */
public final class ClipModel implements AutoCloseable {
    /** Images per vision forward: at ViT-L/14 a batch's attention scores take 16·16·257²·4 B ≈ 68 MB. */
    static final int IMAGE_BATCH = 16;
    /** Prompts per text forward. */
    static final int TEXT_BATCH = 32;

    /** Tensors a {@code CLIPModel} file may carry that are no weights: the position-ids buffers older files saved. */
    static final Set<String> BUFFERS = Set.of("text_model.embeddings.position_ids", "vision_model.embeddings.position_ids");

    private final Path dir;
    private final int projectionDim;
    private final ClipTextEncoder text;
    private final ClipVisionEncoder vision;
    private final Linear visualProjection;
    private final Linear textProjection;
    private final Param logitScale;
    private final ClipTokenizer tokenizer;
    private final ClipImageProcessor imageProcessor;
    private final NDManager parent;
    private NDManager weights;

    private ClipModel(Path dir, int projectionDim, ClipTextConfig textConfig, ClipVisionConfig visionConfig,
                      ClipTokenizer tokenizer, ClipImageProcessor imageProcessor, NDManager parent) {
        this.dir = dir;
        this.projectionDim = projectionDim;
        this.text = new ClipTextEncoder(textConfig);
        this.vision = new ClipVisionEncoder(visionConfig);
        this.visualProjection = new Linear("visual_projection.", visionConfig.hiddenSize(), projectionDim, false);
        this.textProjection = new Linear("text_projection.", textConfig.hiddenSize(), projectionDim, false);
        this.logitScale = new Param("logit_scale", new Shape());
        this.tokenizer = tokenizer;
        this.imageProcessor = imageProcessor;
        this.parent = parent;
    }

    /** The architecture a {@code CLIPModel} config.json gives. */
    public record Config(ClipTextConfig text, ClipVisionConfig vision, int projectionDim) {}

    /**
     * Reads a {@code CLIPModel} config.json: {@code text_config}, {@code vision_config} (each overridden field by
     * field by a {@code text_config_dict} / {@code vision_config_dict}, as older files carry them) and
     * {@code projection_dim}. Every problem is named with the file and the section.
     */
    public static Config readConfig(Path file) {
        JsonObject o = ClipJson.readObject(file);
        List<String> problems = new ArrayList<>();
        ClipTextConfig textConfig = null;
        ClipVisionConfig visionConfig = null;
        JsonObject t = section(o, "text_config", problems);
        if (t != null) {
            try {
                textConfig = ClipTextConfig.fromJson(t);
            } catch (IllegalArgumentException e) {
                problems.add("text_config: " + e.getMessage());
            }
        }
        JsonObject v = section(o, "vision_config", problems);
        if (v != null) {
            try {
                visionConfig = ClipVisionConfig.fromJson(v);
            } catch (IllegalArgumentException e) {
                problems.add("vision_config: " + e.getMessage());
            }
        }
        int projection = ClipJson.integer(o, "projection_dim", null, problems);
        if (o.has("projection_dim") && projection <= 0) problems.add("\"projection_dim\" must be positive, got " + projection);
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(file + ": not a CLIPModel config: " + String.join("; ", problems));
        }
        return new Config(textConfig, visionConfig, projection);
    }

    private static JsonObject section(JsonObject o, String name, List<String> problems) {
        JsonElement e = o.get(name);
        JsonElement dict = o.get(name + "_dict");
        if ((e == null || e.isJsonNull()) && (dict == null || dict.isJsonNull())) {
            problems.add("missing \"" + name + "\"");
            return null;
        }
        JsonObject merged = new JsonObject();
        for (JsonElement part : new JsonElement[] {e, dict}) {
            if (part == null || part.isJsonNull()) continue;
            if (!part.isJsonObject()) {
                problems.add("\"" + name + "\" is not an object");
                return null;
            }
            for (Map.Entry<String, JsonElement> f : part.getAsJsonObject().entrySet()) merged.add(f.getKey(), f.getValue());
        }
        return merged;
    }

    /**
     * Loads a {@code CLIPModel} folder: config.json, model.safetensors (or model.safetensors.index.json and its
     * shards), vocab.json + merges.txt (+ tokenizer_config.json), preprocessor_config.json. Every missing,
     * unexpected and mis-shaped tensor is named in one error with the file.
     */
    public static ClipModel load(Path dir, NDManager manager) {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException(dir + ": not a directory (a CLIPModel folder)");
        Config config = readConfig(dir.resolve("config.json"));
        ClipImageProcessor processor = ClipImageProcessor.read(dir.resolve("preprocessor_config.json"));
        int side = config.vision().imageSize();
        if (processor.doCenterCrop() && (processor.cropHeight() != side || processor.cropWidth() != side)) {
            throw new IllegalArgumentException(dir.resolve("preprocessor_config.json") + ": crop_size "
                    + processor.cropHeight() + "x" + processor.cropWidth() + " differs from the vision tower's image_size "
                    + side + " in " + dir.resolve("config.json"));
        }
        if (!Files.isRegularFile(dir.resolve(T5Checkpoint.SINGLE)) && !Files.isRegularFile(dir.resolve(T5Checkpoint.INDEX))) {
            throw new IllegalArgumentException(dir + ": no CLIP weights: neither " + T5Checkpoint.SINGLE + " nor "
                    + T5Checkpoint.INDEX);
        }
        ClipTokenizer tokenizer = ClipTokenizer.load(dir);
        ClipModel model = new ClipModel(dir, config.projectionDim(), config.text(), config.vision(), tokenizer,
                processor, manager);
        NDManager weights = manager.newSubManager();
        try (T5Checkpoint checkpoint = T5Checkpoint.open(dir)) {
            model.fill(checkpoint, weights);
        } catch (RuntimeException e) {
            weights.close();
            tokenizer.close();
            throw e;
        }
        model.weights = weights;
        return model;
    }

    private Map<String, Param> params() {
        Map<String, Param> all = new LinkedHashMap<>(text.params());
        all.putAll(vision.params());
        all.putAll(visualProjection.params());
        all.putAll(textProjection.params());
        all.put(logitScale.name(), logitScale);
        return all;
    }

    private void fill(T5Checkpoint checkpoint, NDManager weights) {
        Map<String, Param> params = params();
        List<String> missing = new ArrayList<>();
        List<String> misShaped = new ArrayList<>();
        Set<String> unexpected = new TreeSet<>();
        for (String name : checkpoint.names()) {
            if (!params.containsKey(name) && !BUFFERS.contains(name)) unexpected.add(name);
        }
        for (Param p : params.values()) {
            if (!checkpoint.contains(p.name())) {
                missing.add(p.name());
                continue;
            }
            TensorInfo info = checkpoint.info(p.name());
            Shape actual = new Shape(info.shape());
            if (!actual.equals(p.shape())) misShaped.add(p.name() + " " + actual + " (expected " + p.shape() + ")");
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !misShaped.isEmpty()) {
            StringBuilder sb = new StringBuilder("CLIP checkpoint " + checkpoint.source() + " does not match "
                    + dir.resolve("config.json") + ":");
            if (!missing.isEmpty()) sb.append("\n  missing (").append(missing.size()).append("): ").append(String.join(", ", missing));
            if (!unexpected.isEmpty()) sb.append("\n  unexpected (").append(unexpected.size()).append("): ").append(String.join(", ", unexpected));
            if (!misShaped.isEmpty()) sb.append("\n  wrong shape (").append(misShaped.size()).append("): ").append(String.join(", ", misShaped));
            throw new IllegalArgumentException(sb.toString());
        }
        for (Param p : params.values()) p.set(checkpoint.load(p.name(), weights, DataType.FLOAT32));
    }

    // ---------------------------------------------------------------- embeddings

    /** Projected, L2-normalised embeddings of {@code images} (preprocessed as the folder's image processor says). */
    public float[][] imageEmbeds(List<RgbImage> images) {
        return imageEmbedsFromPixels(pixelValues(images));
    }

    /** Projected, L2-normalised embeddings of {@code prompts} (tokenised as the folder's tokenizer says). */
    public float[][] textEmbeds(List<String> prompts) {
        return textEmbedsFromIds(tokenizer.encode(prompts));
    }

    /** {@code pixel_values} of each image: [3, S, S] flattened, channels first. */
    public float[][] pixelValues(List<RgbImage> images) {
        float[][] out = new float[images.size()][];
        for (int i = 0; i < out.length; i++) out[i] = imageProcessor.pixelValues(images.get(i));
        return out;
    }

    /** Token ids of each prompt, {@code model_max_length} (77) long. */
    public long[][] inputIds(List<String> prompts) {
        return tokenizer.encode(prompts);
    }

    /** Projected, L2-normalised image embeddings of rows of {@code pixel_values}. */
    public float[][] imageEmbedsFromPixels(float[][] pixelValues) {
        return normalise(project(visionPooled(pixelValues), visualProjection));
    }

    /** Projected, L2-normalised text embeddings of rows of token ids. */
    public float[][] textEmbedsFromIds(long[][] ids) {
        return normalise(project(textPooled(ids), textProjection));
    }

    /** The vision tower's pooled output ({@code post_layernorm} of token 0) per row of {@code pixel_values}. */
    public float[][] visionPooled(float[][] pixelValues) {
        int c = vision.config().numChannels(), s = vision.config().imageSize(), h = vision.config().hiddenSize();
        int per = c * s * s;
        float[][] out = new float[pixelValues.length][];
        for (int start = 0; start < pixelValues.length; start += IMAGE_BATCH) {
            int n = Math.min(IMAGE_BATCH, pixelValues.length - start);
            float[] flat = new float[n * per];
            for (int i = 0; i < n; i++) {
                float[] row = pixelValues[start + i];
                if (row.length != per) {
                    throw new IllegalArgumentException("pixel values of image " + (start + i) + " have " + row.length
                            + " values; the vision tower takes " + c + "x" + s + "x" + s + " = " + per);
                }
                System.arraycopy(row, 0, flat, i * per, per);
            }
            try (NDManager scope = parent.newSubManager()) {
                NDArray pixels = scope.create(flat, new Shape(n, c, s, s));
                try (ClipVisionEncoder.Output o = vision.forward(pixels)) {
                    float[] pooled = o.pooled().toFloatArray();
                    for (int i = 0; i < n; i++) out[start + i] = java.util.Arrays.copyOfRange(pooled, i * h, (i + 1) * h);
                }
            }
        }
        return out;
    }

    /** The text tower's pooled output (the final hidden state at the end-of-text token) per row of ids. */
    public float[][] textPooled(long[][] ids) {
        int h = text.config().hiddenSize();
        float[][] out = new float[ids.length][];
        for (int start = 0; start < ids.length; start += TEXT_BATCH) {
            int n = Math.min(TEXT_BATCH, ids.length - start);
            long[][] batch = java.util.Arrays.copyOfRange(ids, start, start + n);
            try (NDManager scope = parent.newSubManager();
                 ClipTextEncoder.Output o = text.forward(batch, scope)) {
                float[] pooled = o.pooled().toFloatArray();
                for (int i = 0; i < n; i++) out[start + i] = java.util.Arrays.copyOfRange(pooled, i * h, (i + 1) * h);
            }
        }
        return out;
    }

    private float[][] project(float[][] pooled, Linear projection) {
        if (pooled.length == 0) return new float[0][];
        int in = projection.in();
        float[] flat = new float[pooled.length * in];
        for (int i = 0; i < pooled.length; i++) System.arraycopy(pooled[i], 0, flat, i * in, in);
        try (NDManager scope = parent.newSubManager()) {
            NDArray x = scope.create(flat, new Shape(pooled.length, in));
            float[] y = projection.forward(x).toFloatArray();
            float[][] out = new float[pooled.length][];
            for (int i = 0; i < out.length; i++) out[i] = java.util.Arrays.copyOfRange(y, i * projectionDim, (i + 1) * projectionDim);
            return out;
        }
    }

    /** Each row divided by its L2 norm (the sum of squares in double, the quotient in float32, as torch's fp32). */
    static float[][] normalise(float[][] rows) {
        for (float[] r : rows) {
            double sq = 0;
            for (float v : r) sq += (double) v * v;
            float norm = (float) Math.sqrt(sq);
            for (int j = 0; j < r.length; j++) r[j] = r[j] / norm;
        }
        return rows;
    }

    // ---------------------------------------------------------------- scores

    /** torchmetrics' CLIP score of one pair: 100 × max(cos(image, text), 0); both are normalised again here. */
    public static double clipScore(float[] imageEmbed, float[] textEmbed) {
        if (imageEmbed.length != textEmbed.length) {
            throw new IllegalArgumentException("embeddings differ in length: image " + imageEmbed.length + ", text "
                    + textEmbed.length);
        }
        double dot = 0, a = 0, b = 0;
        for (int i = 0; i < imageEmbed.length; i++) {
            dot += (double) imageEmbed[i] * textEmbed[i];
            a += (double) imageEmbed[i] * imageEmbed[i];
            b += (double) textEmbed[i] * textEmbed[i];
        }
        if (a == 0 || b == 0) throw new IllegalArgumentException("a zero embedding has no direction");
        return 100 * Math.max(dot / Math.sqrt(a * b), 0);
    }

    /** [image i, prompt j] = {@link #clipScore}(images[i], texts[j]). */
    public static double[][] clipScoreMatrix(float[][] imageEmbeds, float[][] textEmbeds) {
        double[][] out = new double[imageEmbeds.length][textEmbeds.length];
        for (int i = 0; i < out.length; i++) {
            for (int j = 0; j < textEmbeds.length; j++) out[i][j] = clipScore(imageEmbeds[i], textEmbeds[j]);
        }
        return out;
    }

    /** Width of the shared embedding space ({@code projection_dim}; 768 for ViT-L/14). */
    public int projectionDim() {
        return projectionDim;
    }

    /** {@code exp(logit_scale)}, the factor {@code CLIPModel}'s {@code logits_per_image} applies to the cosines. */
    public double logitScaleExp() {
        return Math.exp(logitScale.value().getFloat());
    }

    public ClipTextEncoder textEncoder() {
        return text;
    }

    public ClipVisionEncoder visionEncoder() {
        return vision;
    }

    public ClipTokenizer tokenizer() {
        return tokenizer;
    }

    public ClipImageProcessor imageProcessor() {
        return imageProcessor;
    }

    public Path dir() {
        return dir;
    }

    /** The manager holding the weights (tests check that a forward leaves nothing in it). */
    NDManager weightsManager() {
        return weights;
    }

    /** Frees the weights and the tokenizer. */
    @Override
    public void close() {
        if (weights != null) weights.close();
        weights = null;
        tokenizer.close();
    }
}
