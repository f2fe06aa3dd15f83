package fastflux.pipeline.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;
import fastflux.model.Module;
import fastflux.model.Param;
import fastflux.model.WeightLoader;
import fastflux.model.io.SafetensorsReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The CLIP text tower as Hugging Face's {@code CLIPTextModel} computes it: token and position embeddings, pre-LN
 * layers with a causal mask (no padding mask), a final LayerNorm, and the pooled output, the final hidden state
 * at the end-of-text token. FLUX.1 conditions on the pooled output. Parameters carry the {@code text_model.} key
 * names of {@code CLIPTextModel} and {@code CLIPModel} checkpoints.
 */
public final class ClipTextEncoder extends Module implements AutoCloseable {

    /** Key prefix of the text tower in {@code CLIPTextModel} and {@code CLIPModel} checkpoints. */
    public static final String PREFIX = "text_model.";

    /**
     * Tensors a text-tower checkpoint may carry that are no weights of it: the position-ids buffer older
     * transformers saved, and in a {@code CLIPModel} file the vision tower and both projections.
     */
    public static final Set<String> IGNORED = Set.of(PREFIX + "embeddings.position_ids", "vision_model.",
            "visual_projection.", "text_projection.", "logit_scale");

    private final ClipTextConfig config;
    private final Param tokenEmbedding;
    private final Param positionEmbedding;
    private final List<ClipEncoderLayer> layers = new ArrayList<>();
    private final ClipLayerNorm finalLayerNorm;
    private NDManager weights;

    /** The hidden states after the final LayerNorm and the pooled vector; both owned by the caller. */
    public record Output(NDArray hidden, NDArray pooled) implements AutoCloseable {
        @Override
        public void close() {
            hidden.close();
            pooled.close();
        }
    }

    /** An encoder with unloaded parameters; {@link #load} fills them. */
    public ClipTextEncoder(ClipTextConfig config) {
        super(PREFIX);
        this.config = config;
        int h = config.hiddenSize();
        tokenEmbedding = new Param(child("embeddings.token_embedding.weight"), new Shape(config.vocabSize(), h));
        positionEmbedding = new Param(child("embeddings.position_embedding.weight"),
                new Shape(config.maxPositionEmbeddings(), h));
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            layers.add(new ClipEncoderLayer(child("encoder.layers." + i + "."), config));
        }
        finalLayerNorm = new ClipLayerNorm(child("final_layer_norm."), h, config.layerNormEps());
    }

    /**
     * Loads a {@code text_encoder/} folder ({@code config.json} and {@code model.safetensors}) or a {@code CLIPModel}
     * folder, whose vision tower is skipped. The weights live in a sub-manager of {@code parent} that
     * {@link #close} frees.
     */
    public static ClipTextEncoder load(Path dir, NDManager parent) {
        ClipTextConfig config = ClipTextConfig.read(dir.resolve("config.json"));
        Path file = dir.resolve("model.safetensors");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + ": no such file (a text encoder folder holds config.json and "
                    + "model.safetensors)");
        }
        return load(config, file, parent);
    }

    /**
     * Builds the encoder for {@code config} and loads it from {@code file} in fp32 (bf16 and fp16 tensors are
     * converted in Java). Every missing, unexpected and mis-shaped tensor is named in one error with the file.
     */
    public static ClipTextEncoder load(ClipTextConfig config, Path file, NDManager parent) {
        ClipTextEncoder encoder = new ClipTextEncoder(config);
        NDManager weights = parent.newSubManager();
        try (SafetensorsReader reader = SafetensorsReader.open(file)) {
            WeightLoader.load(encoder.params(), reader, IGNORED, weights, DataType.FLOAT32);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
        encoder.weights = weights;
        return encoder;
    }

    public ClipTextConfig config() {
        return config;
    }

    /** Encodes rows of token ids (each at most {@code max_position_embeddings} long) into {@code manager}. */
    public Output forward(long[][] ids, NDManager manager) {
        int b = ids.length;
        int l = b == 0 ? 0 : ids[0].length;
        long[] flat = new long[b * l];
        for (int i = 0; i < b; i++) {
            if (ids[i].length != l) {
                throw new IllegalArgumentException("row " + i + " has " + ids[i].length + " ids, row 0 has " + l);
            }
            System.arraycopy(ids[i], 0, flat, i * l, l);
        }
        try (NDArray idsArray = manager.create(flat, new Shape(b, l))) {
            return forward(idsArray);
        }
    }

    /**
     * The final hidden states and the pooled output for {@code ids} [B, L] (INT64), created in {@code ids}'
     * manager; the intermediates are freed before this returns.
     */
    // ids [B, L] -> hidden [B, L, H], pooled [B, H]
    public Output forward(NDArray ids) {
        long[] shape = ids.getShape().getShape();
        if (shape.length != 2) throw new IllegalArgumentException("ids must be [B, L], got " + ids.getShape());
        int b = (int) shape[0], l = (int) shape[1];
        if (l < 1 || l > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException(l + " tokens per row; the encoder takes 1.."
                    + config.maxPositionEmbeddings());
        }
        if (ids.getDataType() != DataType.INT64) throw new IllegalArgumentException("ids must be INT64, got " + ids.getDataType());
        long[] flat = ids.toLongArray();
        int[] pooledAt = new int[b];
        for (int i = 0; i < b; i++) {
            long[] row = java.util.Arrays.copyOfRange(flat, i * l, (i + 1) * l);
            for (int j = 0; j < l; j++) {
                if (row[j] < 0 || row[j] >= config.vocabSize()) {
                    throw new IllegalArgumentException("row " + i + " position " + j + ": token id " + row[j]
                            + " is outside the vocabulary 0.." + (config.vocabSize() - 1));
                }
            }
            pooledAt[i] = poolIndex(row, config);
        }
        NDManager outer = ids.getManager();
        try (NDManager scope = outer.newSubManager()) {
            NDArray idx = ids.duplicate(); // a copy in the scope, so the embedding lookup's result lands there too
            idx.attach(scope);
            NDArray positions = scope.arange(0L, (long) l, 1L, DataType.INT64);
            NDArray x = Embedding.embedding(idx, tokenEmbedding.value(), SparseFormat.DENSE).singletonOrThrow()
                    .add(Embedding.embedding(positions, positionEmbedding.value(), SparseFormat.DENSE).singletonOrThrow());
            for (ClipEncoderLayer layer : layers) {
                // One layer's intermediates (scores, the MLP's activations) are freed as it ends.
                try (NDManager step = scope.newSubManager()) {
                    x.attach(step);
                    NDArray y = layer.forward(x);
                    y.attach(scope);
                    x = y;
                }
            }
            NDArray hidden = finalLayerNorm.forward(x);
            NDList rows = new NDList(b);
            for (int i = 0; i < b; i++) rows.add(hidden.get(new NDIndex("{}, {}", i, pooledAt[i])));
            NDArray pooled = NDArrays.stack(rows);
            hidden.attach(outer);
            pooled.attach(outer);
            return new Output(hidden, pooled);
        }
    }

    /**
     * The position the pooled output reads, as Hugging Face's {@code CLIPTextTransformer}: the first
     * {@code eos_token_id}, or, when that id is {@value ClipTextConfig#LEGACY_EOS_TOKEN_ID}, the first position of
     * the largest id (the original CLIP configs say 2, and their eos is the largest id).
     */
    public static int poolIndex(long[] ids, ClipTextConfig config) {
        int best = 0;
        for (int j = 0; j < ids.length; j++) {
            if (config.legacyPooling()) {
                if (ids[j] > ids[best]) best = j;
            } else if (ids[j] == config.eosTokenId()) {
                return j;
            }
        }
        // torch's argmax over an all-false mask is 0, and Hugging Face pools there.
        return best;
    }

    @Override
    protected void collect(Map<String, Param> out) {
        put(out, tokenEmbedding);
        put(out, positionEmbedding);
        for (ClipEncoderLayer layer : layers) out.putAll(layer.params());
        out.putAll(finalLayerNorm.params());
    }

    /** The manager holding the weights (tests check that a forward leaves nothing in it). */
    NDManager weightsManager() {
        return weights;
    }

    /** Frees the weights (if this encoder loaded them). */
    @Override
    public void close() {
        if (weights != null) weights.close();
        weights = null;
    }
}
