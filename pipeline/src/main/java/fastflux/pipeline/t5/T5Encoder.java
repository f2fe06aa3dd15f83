package fastflux.pipeline.t5;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import fastflux.model.Module;
import fastflux.model.Param;
import fastflux.model.Tensors;
import fastflux.model.io.TensorInfo;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The T5 v1.1 encoder as FLUX.1 uses it (Hugging Face's {@code T5EncoderModel}, eval mode): token embedding,
 * {@code num_layers} blocks sharing the relative position bias of the first, final RMS norm. FLUX runs it on the
 * padded ids without an attention mask, so padding is attended to; {@link #forward} does the same.
 *
 * <p>Parameters carry the checkpoint's names ({@code shared.weight}, {@code encoder.block.0.layer.0.SelfAttention.q.weight},
 * ...). In fp16 the feed-forward output projections {@code wo} stay fp32, as the reference keeps them, and from the
 * first of them on the residual stream is fp32 too (torch's type promotion of fp32 + fp16).
 */
public final class T5Encoder extends Module {
    public static final String EMBEDDING = "shared.weight";
    /** The encoder's own name for the embedding, tied to {@link #EMBEDDING}; some checkpoints carry it too. */
    public static final String TIED_EMBEDDING = "encoder.embed_tokens.weight";
    /** A {@code T5ForConditionalGeneration} checkpoint's decoder, which the encoder ignores as the reference does. */
    private static final List<String> OTHER_PARTS = List.of("decoder.", "lm_head.");

    private final T5Config config;
    private final Param embedding;
    private final List<T5Block> blocks;
    private final T5LayerNorm finalNorm;

    public T5Encoder(T5Config config) {
        super("");
        this.config = config;
        this.embedding = new Param(EMBEDDING, new Shape(config.vocabSize(), config.dModel()));
        List<T5Block> b = new ArrayList<>();
        for (int i = 0; i < config.numLayers(); i++) b.add(new T5Block("encoder.block." + i + ".", config, i == 0));
        this.blocks = Collections.unmodifiableList(b);
        this.finalNorm = new T5LayerNorm("encoder.final_layer_norm.", config.dModel(), config.layerNormEpsilon());
    }

    public T5Config config() {
        return config;
    }

    public List<T5Block> blocks() {
        return blocks;
    }

    /**
     * Reads {@code dir/config.json} and the weights ({@code model.safetensors} or a sharded index) of a
     * {@code text_encoder_2} folder into {@code manager}, in {@code dtype} (FLOAT32 or FLOAT16).
     */
    public static T5Encoder load(Path dir, NDManager manager, DataType dtype) {
        T5Config config = T5Config.read(dir.resolve("config.json"));
        T5Encoder encoder = new T5Encoder(config);
        try (T5Checkpoint checkpoint = T5Checkpoint.open(dir)) {
            encoder.load(checkpoint, manager, dtype);
        }
        return encoder;
    }

    /**
     * Fills every parameter from {@code checkpoint}, first naming every missing, unexpected and mis-shaped tensor in
     * one error. {@code encoder.embed_tokens.weight} stands in for {@code shared.weight} when that is absent.
     */
    public void load(T5Checkpoint checkpoint, NDManager manager, DataType dtype) {
        if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT16) {
            throw new IllegalArgumentException("T5 runs in FLOAT32 or FLOAT16, not " + dtype);
        }
        Map<String, Param> params = params();
        String embeddingSource = !checkpoint.contains(EMBEDDING) && checkpoint.contains(TIED_EMBEDDING)
                ? TIED_EMBEDDING : EMBEDDING;
        List<String> missing = new ArrayList<>();
        List<String> misShaped = new ArrayList<>();
        Set<String> unexpected = new TreeSet<>();
        for (String name : checkpoint.names()) {
            boolean known = params.containsKey(name) || name.equals(TIED_EMBEDDING);
            if (!known && OTHER_PARTS.stream().noneMatch(name::startsWith)) unexpected.add(name);
        }
        for (Param p : params.values()) {
            String source = p.name().equals(EMBEDDING) ? embeddingSource : p.name();
            if (!checkpoint.contains(source)) {
                missing.add(p.name());
                continue;
            }
            TensorInfo info = checkpoint.info(source);
            Shape actual = new Shape(info.shape());
            if (!actual.equals(p.shape()) || !info.dtype().isFloating()) {
                misShaped.add(source + " " + actual + " " + info.dtype() + " (expected " + p.shape() + " floating point)"
                        + (checkpoint.fileOf(source).equals(checkpoint.source()) ? "" : " in " + checkpoint.fileOf(source)));
            }
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !misShaped.isEmpty()) {
            StringBuilder sb = new StringBuilder("T5 checkpoint " + checkpoint.source() + " does not match the encoder ("
                    + config.numLayers() + " layers, d_model " + config.dModel() + "):");
            if (!missing.isEmpty()) sb.append("\n  missing (").append(missing.size()).append("): ").append(String.join(", ", missing));
            if (!unexpected.isEmpty()) sb.append("\n  unexpected (").append(unexpected.size()).append("): ").append(String.join(", ", unexpected));
            if (!misShaped.isEmpty()) sb.append("\n  wrong shape (").append(misShaped.size()).append("): ").append(String.join(", ", misShaped));
            throw new IllegalArgumentException(sb.toString());
        }
        for (Param p : params.values()) {
            String source = p.name().equals(EMBEDDING) ? embeddingSource : p.name();
            boolean keepFp32 = p.name().endsWith(".DenseReluDense.wo.weight");
            p.set(checkpoint.load(source, manager, keepFp32 ? DataType.FLOAT32 : dtype));
        }
    }

    /** The relative position bias every layer adds, for a sequence of {@code length} tokens, in {@code m}. */
    // -> [1, H, length, length]
    public NDArray positionBias(NDManager m, int length) {
        return blocks.get(0).attention().positionBias(m, length, length);
    }

    /** Encodes token ids given as Java arrays (one row per prompt, all of one length). */
    // ids [B][L] -> [B, L, D] in m
    public NDArray forward(long[][] ids, NDManager m) {
        int b = ids.length;
        int l = b == 0 ? 0 : ids[0].length;
        int[] flat = new int[Math.multiplyExact(b, l)];
        for (int i = 0; i < b; i++) {
            if (ids[i].length != l) throw new IllegalArgumentException("row " + i + " has " + ids[i].length + " ids, row 0 has " + l);
            for (int j = 0; j < l; j++) {
                long id = ids[i][j];
                if (id < 0 || id >= config.vocabSize()) {
                    throw new IllegalArgumentException("token id " + id + " at [" + i + ", " + j + "] outside the vocabulary of " + config.vocabSize());
                }
                flat[i * l + j] = (int) id;
            }
        }
        try (NDArray i32 = Tensors.create(m, flat, new Shape(b, l)); NDArray i64 = i32.toType(DataType.INT64, false)) {
            return forward(i64);
        }
    }

    /**
     * The last hidden state for the ids, in the model's dtype, in the ids' manager. Each block's intermediates are
     * freed as it ends, so memory holds one block's activations at a time.
     */
    // ids [B, L] int64 -> [B, L, D]
    public NDArray forward(NDArray ids) {
        NDManager outer = ids.getManager();
        try (NDManager run = outer.newSubManager()) {
            ids.tempAttach(run);
            int length = Math.toIntExact(ids.getShape().get(1));
            NDArray bias = positionBias(run, length); // [1, H, L, L]
            NDArray x = ai.djl.nn.core.Embedding.embedding(ids, embedding.value(), SparseFormat.DENSE).singletonOrThrow();
            for (T5Block block : blocks) {
                try (NDManager step = run.newSubManager()) {
                    x.attach(step);
                    bias.tempAttach(step);
                    NDArray y = block.forward(x, bias);
                    y.attach(run);
                    x = y;
                }
            }
            NDArray out = finalNorm.forward(x);
            out.attach(outer);
            return out;
        }
    }

    @Override
    protected void collect(Map<String, Param> out) {
        put(out, embedding);
        for (T5Block b : blocks) out.putAll(b.params());
        out.putAll(finalNorm.params());
    }
}
