package fastflux.shapes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Linear;
import fastflux.model.Module;
import fastflux.model.Nn;
import fastflux.model.Param;
import java.util.Map;

/**
 * The stand-in for FLUX's T5 and CLIP encoders: word embeddings plus learned positions give {@code txt}
 * [B, L, context_in_dim] (T5's role), and their mean over the sequence is the pooled {@code y} (CLIP's role).
 * Trained jointly with the transformer and stored under {@code text_encoder.*} in the same checkpoint.
 *
 * <p>With the <em>context window</em> (checkpoints without its weights load
 * without it) each word also receives a small MLP of itself and its two neighbours,
 * {@code fc2(gelu(fc1([e(w_{i−1}), e(w_i), e(w_{i+1})])))}, as T5's contextual outputs carry their neighbours: the
 * noun of "a blue square" knows its colour and the nouns of "a circle above a square" which side of the
 * relation they are on, and because the MLP is nonlinear the pooled {@code y} holds these pairs rather than a
 * bag of words (without it, "a red circle and a blue square" and "a blue circle and a red square" pool alike).
 */
public final class TextEncoder extends Module {
    public static final String PREFIX = "text_encoder.";

    private final WordTokenizer tokenizer = new WordTokenizer();
    private final int maxWords;
    private final Param tokenEmbedding;
    private final Param positionEmbedding;
    private final Linear contextIn; // null without the context window
    private final Linear contextOut;

    /** The name by which a checkpoint shows it has the context window. */
    public static final String CONTEXT_WEIGHT = PREFIX + "context.fc1.weight";

    /** Word and position embeddings only (the encoder of checkpoints without the context window). */
    public TextEncoder(int contextDim) {
        this(contextDim, false);
    }

    public TextEncoder(int contextDim, boolean contextWindow) {
        super(PREFIX);
        this.maxWords = tokenizer.maxWords();
        tokenEmbedding = new Param(PREFIX + "token_embedding.weight", new Shape(tokenizer.vocabSize(), contextDim));
        positionEmbedding = new Param(PREFIX + "position_embedding.weight", new Shape(maxWords, contextDim));
        contextIn = contextWindow ? new Linear(PREFIX + "context.fc1.", 3 * contextDim, 2 * contextDim, true) : null;
        contextOut = contextWindow ? new Linear(PREFIX + "context.fc2.", 2 * contextDim, contextDim, true) : null;
    }

    public boolean hasContextWindow() {
        return contextIn != null;
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
        NDArray txt = tok.add(positionEmbedding.value());
        return contextIn == null ? txt : txt.add(contextOut.forward(Nn.geluTanh(contextIn.forward(window(tok)))));
    }

    /** [B, L, C] → [B, L, 3C]: each word's embedding between its neighbours' (zeros beyond the ends). */
    private static NDArray window(NDArray tok) {
        Shape s = tok.getShape();
        NDArray edge = tok.getManager().zeros(new Shape(s.get(0), 1, s.get(2)), tok.getDataType());
        NDArray prev = edge.concat(tok.get(":, :-1, :"), 1);
        NDArray next = tok.get(":, 1:, :").concat(edge, 1);
        return NDArrays.concat(new NDList(prev, tok, next), 2);
    }

    /** Pooled y [B, C]: the mean of txt over the sequence. */
    public static NDArray pooled(NDArray txt) {
        return txt.mean(new int[] {1});
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.put(tokenEmbedding.name(), tokenEmbedding);
        out.put(positionEmbedding.name(), positionEmbedding);
        if (contextIn != null) {
            out.putAll(contextIn.params());
            out.putAll(contextOut.params());
        }
    }
}
