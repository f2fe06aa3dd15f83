package fastflux.pipeline.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Module;
import fastflux.model.Param;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The CLIP vision tower as Hugging Face's {@code CLIPVisionTransformer} computes it: a patch embedding (a
 * convolution without bias whose kernel and stride are the patch size), the class embedding prepended as token 0,
 * learned position embeddings, {@code pre_layrnorm}, pre-LN encoder layers without a mask, and the pooled output,
 * {@code post_layernorm} of token 0. Parameters carry the {@code vision_model.} key names of {@code CLIPModel}
 * checkpoints. {@link ClipModel} loads it.
 */
public final class ClipVisionEncoder extends Module {

    /** Key prefix of the vision tower in {@code CLIPModel} and {@code CLIPVisionModel} checkpoints. */
    public static final String PREFIX = "vision_model.";

    private final ClipVisionConfig config;
    private final Param classEmbedding;
    private final Param patchEmbedding;
    private final Param positionEmbedding;
    private final ClipLayerNorm preLayerNorm;
    private final List<ClipEncoderLayer> layers = new ArrayList<>();
    private final ClipLayerNorm postLayerNorm;

    /** The last layer's hidden states (no final norm over all tokens) and the pooled vector; owned by the caller. */
    public record Output(NDArray hidden, NDArray pooled) implements AutoCloseable {
        @Override
        public void close() {
            hidden.close();
            pooled.close();
        }
    }

    /** A tower with unloaded parameters. */
    public ClipVisionEncoder(ClipVisionConfig config) {
        super(PREFIX);
        this.config = config;
        int h = config.hiddenSize(), p = config.patchSize();
        classEmbedding = new Param(child("embeddings.class_embedding"), new Shape(h));
        patchEmbedding = new Param(child("embeddings.patch_embedding.weight"), new Shape(h, config.numChannels(), p, p));
        positionEmbedding = new Param(child("embeddings.position_embedding.weight"), new Shape(config.numPositions(), h));
        // "pre_layrnorm" is Hugging Face's spelling of the key.
        preLayerNorm = new ClipLayerNorm(child("pre_layrnorm."), h, config.layerNormEps());
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            layers.add(new ClipEncoderLayer(child("encoder.layers." + i + "."), h, config.intermediateSize(),
                    config.numAttentionHeads(), config.layerNormEps(), config.hiddenAct(), false));
        }
        postLayerNorm = new ClipLayerNorm(child("post_layernorm."), h, config.layerNormEps());
    }

    public ClipVisionConfig config() {
        return config;
    }

    /**
     * The last hidden states and the pooled output for {@code pixels} [B, C, S, S] (FLOAT32, S = {@code image_size},
     * already normalised), created in {@code pixels}' manager; the intermediates are freed before this returns.
     */
    // pixels [B, C, S, S] -> hidden [B, 1 + (S/p)², H], pooled [B, H]
    public Output forward(NDArray pixels) {
        long[] s = pixels.getShape().getShape();
        int c = config.numChannels(), size = config.imageSize();
        if (s.length != 4 || s[1] != c || s[2] != size || s[3] != size) {
            throw new IllegalArgumentException("pixel values must be [B, " + c + ", " + size + ", " + size
                    + "] (the config's num_channels and image_size), got " + pixels.getShape());
        }
        if (pixels.getDataType() != DataType.FLOAT32) {
            throw new IllegalArgumentException("pixel values must be FLOAT32, got " + pixels.getDataType());
        }
        NDManager outer = pixels.getManager();
        try (NDManager scope = outer.newSubManager()) {
            NDArray x = pixels.duplicate();
            x.attach(scope);
            x = preLayerNorm.forward(embeddings(x));
            for (ClipEncoderLayer layer : layers) {
                // One layer's intermediates (scores, the MLP's activations) are freed as it ends.
                try (NDManager step = scope.newSubManager()) {
                    x.attach(step);
                    NDArray y = layer.forward(x);
                    y.attach(scope);
                    x = y;
                }
            }
            NDArray pooled = postLayerNorm.forward(x.get(new NDIndex(":, 0, :")));
            x.attach(outer);
            pooled.attach(outer);
            return new Output(x, pooled);
        }
    }

    /**
     * The patch tokens after the class token, plus the position embeddings: [B, 1 + g², H] in {@code pixels}'
     * manager, for {@code pixels} [B, C, S, S] as {@link #forward} checks them.
     */
    NDArray embeddings(NDArray pixels) {
        long b = pixels.getShape().get(0);
        int c = config.numChannels(), h = config.hiddenSize(), p = config.patchSize(), g = config.gridSize();
        NDArray x = pixels;
        if (g * p != config.imageSize()) x = x.get(new NDIndex(":, :, :{}, :{}", g * p, g * p)); // the conv drops the rest
        // A stride-p convolution without bias is a matrix product over flattened patches, row-major in the grid
        // (token 1 + r·g + c), each patch flattened as the kernel is (channel, row, column).
        NDArray patches = x.reshape(b, c, g, p, g, p).transpose(0, 2, 4, 1, 3, 5).reshape(b, (long) g * g, (long) c * p * p);
        NDManager m = pixels.getManager();
        // Views of the weights are made in the caller's manager, so a forward leaves nothing in the weights'.
        NDArray kernel = patchEmbedding.value().reshape(h, (long) c * p * p);
        kernel.attach(m);
        NDArray tokens = ai.djl.nn.core.Linear.linear(patches, kernel, null).singletonOrThrow(); // [B, g², H]
        NDArray cls = classEmbedding.value().reshape(1, 1, h);
        cls.attach(m);
        return NDArrays.concat(new NDList(cls.broadcast(new Shape(b, 1, h)), tokens), 1).add(positionEmbedding.value());
    }

    @Override
    protected void collect(Map<String, Param> out) {
        put(out, classEmbedding);
        put(out, patchEmbedding);
        put(out, positionEmbedding);
        out.putAll(preLayerNorm.params());
        for (ClipEncoderLayer layer : layers) out.putAll(layer.params());
        out.putAll(postLayerNorm.params());
    }
}
