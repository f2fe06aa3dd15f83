package fastflux.shapes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Module;
import fastflux.model.Param;
import java.util.Map;

/**
 * The stand-in for FLUX's T5 and CLIP encoders: word embeddings plus learned positions give {@code txt}
 * [B, L, context_in_dim] (T5's role), and their mean over the sequence is the pooled {@code y} (CLIP's role).
 * Trained jointly with the transformer and stored under {@code text_encoder.*} in the same checkpoint.
 */
public final class TextEncoder extends Module {
    public static final String PREFIX = "text_encoder.";

    private final WordTokenizer tokenizer = new WordTokenizer();
    private final int maxWords;
    private final Param tokenEmbedding;
    private final Param positionEmbedding;

    public TextEncoder(int contextDim) {
        super(PREFIX);
        this.maxWords = tokenizer.maxWords();
        tokenEmbedding = new Param(PREFIX + "token_embedding.weight", new Shape(tokenizer.vocabSize(), contextDim));
        positionEmbedding = new Param(PREFIX + "position_embedding.weight", new Shape(maxWords, contextDim));
    }

    public WordTokenizer tokenizer() {
        return tokenizer;
    }

    public int maxWords() {
        return maxWords;
    }

    /** Token ids [B, L] (PAD-filled); unknown words fail naming them. The empty prompt is all PAD. */
    public int[] tokenize(java.util.List<String> prompts) {
        int[] ids = new int[prompts.size() * maxWords];
        for (int i = 0; i < prompts.size(); i++) {
            System.arraycopy(tokenizer.encode(prompts.get(i), maxWords), 0, ids, i * maxWords, maxWords);
        }
        return ids;
    }

    /** txt [B, L, C] from token ids [B * L] (created in {@code m}). */
    public NDArray txt(int[] ids, NDManager m) {
        int b = ids.length / maxWords;
        NDArray idx = fastflux.model.Tensors.create(m, ids, new Shape(b, maxWords)).toType(DataType.INT64, false);
        NDArray tok = idx.getNDArrayInternal()
                .embedding(idx, tokenEmbedding.value(), ai.djl.ndarray.types.SparseFormat.DENSE).singletonOrThrow();
        return tok.add(positionEmbedding.value());
    }

    /** Pooled y [B, C]: the mean of txt over the sequence. */
    public static NDArray pooled(NDArray txt) {
        return txt.mean(new int[] {1});
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.put(tokenEmbedding.name(), tokenEmbedding);
        out.put(positionEmbedding.name(), positionEmbedding);
    }
}
