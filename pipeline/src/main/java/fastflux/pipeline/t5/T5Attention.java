package fastflux.pipeline.t5;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import fastflux.model.Attention;
import fastflux.model.Linear;
import fastflux.model.Module;
import fastflux.model.Param;
import fastflux.model.Tensors;
import java.util.Map;

/**
 * T5 self-attention: projections without bias, logits {@code q kᵀ + position_bias} without the 1/√d scale (T5 folds
 * it into the initialisation of q), softmax in fp32. Only the first layer owns the relative position bias table;
 * the bias it makes is added in every layer.
 */
public final class T5Attention extends Module {
    private final T5Config config;
    private final Linear q;
    private final Linear k;
    private final Linear v;
    private final Linear o;
    private final Param relativeBias; // [buckets, heads], or null

    public T5Attention(String prefix, T5Config config, boolean hasRelativeBias) {
        super(prefix);
        this.config = config;
        int d = config.dModel();
        int inner = config.innerDim();
        this.q = new Linear(prefix + "q.", d, inner, false);
        this.k = new Linear(prefix + "k.", d, inner, false);
        this.v = new Linear(prefix + "v.", d, inner, false);
        this.o = new Linear(prefix + "o.", inner, d, false);
        this.relativeBias = hasRelativeBias
                ? new Param(prefix + "relative_attention_bias.weight",
                        new Shape(config.relativeAttentionNumBuckets(), config.numHeads()))
                : null;
    }

    /** The relative position bias for {@code qLen} queries and {@code kLen} keys, in the table's dtype, in {@code m}. */
    // -> [1, H, qLen, kLen]
    public NDArray positionBias(NDManager m, int qLen, int kLen) {
        if (relativeBias == null) throw new IllegalStateException(prefix() + " has no relative attention bias");
        int[] b = RelativePosition.buckets(qLen, kLen, config.relativeAttentionNumBuckets(),
                config.relativeAttentionMaxDistance());
        try (NDArray buckets = Tensors.create(m, b, new Shape(qLen, kLen)); NDArray idx = buckets.toType(DataType.INT64, false)) {
            NDArray values = ai.djl.nn.core.Embedding.embedding(idx, relativeBias.value(), SparseFormat.DENSE)
                    .singletonOrThrow(); // [qLen, kLen, H]
            return values.transpose(2, 0, 1).expandDims(0);
        }
    }

    // x [B, L, D], bias [1, H, L, L] -> [B, L, D]
    public NDArray forward(NDArray x, NDArray bias) {
        NDArray out = attend(heads(q.forward(x)), heads(k.forward(x)), heads(v.forward(x)), bias); // [B, H, L, Dh]
        Shape s = out.getShape();
        return o.forward(out.transpose(0, 2, 1, 3).reshape(s.get(0), s.get(2), s.get(1) * s.get(3)));
    }

    // [B, L, H*Dh] -> [B, H, L, Dh]
    private NDArray heads(NDArray x) {
        Shape s = x.getShape();
        return x.reshape(s.get(0), s.get(1), config.numHeads(), config.dKv()).transpose(0, 2, 1, 3);
    }

    /**
     * softmax(q kᵀ + bias) v, chunked over heads and then query rows so that one chunk's logits hold at most
     * {@link Attention#maxScoreElements} elements; softmax in fp32 and cast back, as the reference does.
     */
    // q [B, H, Lq, D], k, v [B, H, Lk, D], bias [1, H, Lq, Lk] -> [B, H, Lq, D]
    public static NDArray attend(NDArray q, NDArray k, NDArray v, NDArray bias) {
        long[] s = q.getShape().getShape();
        long b = s[0], h = s[1], lq = s[2];
        long lk = k.getShape().get(2);
        long limit = Attention.maxScoreElements;
        long heads = Math.max(1, Math.min(h, limit / Math.max(1, b * lq * lk)));
        long rows = heads == 1 ? Math.max(1, Math.min(lq, limit / Math.max(1, b * lk))) : lq;
        if (heads >= h && rows >= lq) return attendChunk(q, k, v, bias);
        NDList headOuts = new NDList();
        for (long h0 = 0; h0 < h; h0 += heads) {
            long h1 = Math.min(h, h0 + heads);
            NDArray kh = k.get(new NDIndex(":, {}:{}", h0, h1));
            NDArray vh = v.get(new NDIndex(":, {}:{}", h0, h1));
            NDList rowOuts = new NDList();
            for (long r0 = 0; r0 < lq; r0 += rows) {
                long r1 = Math.min(lq, r0 + rows);
                NDIndex at = new NDIndex(":, {}:{}, {}:{}", h0, h1, r0, r1);
                rowOuts.add(attendChunk(q.get(at), kh, vh, bias.get(at)));
            }
            headOuts.add(rowOuts.size() == 1 ? rowOuts.get(0) : NDArrays.concat(rowOuts, 2));
        }
        return headOuts.size() == 1 ? headOuts.get(0) : NDArrays.concat(headOuts, 1);
    }

    private static NDArray attendChunk(NDArray q, NDArray k, NDArray v, NDArray bias) {
        DataType dt = v.getDataType();
        NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)); // [B, h, lq, Lk]
        scores = scores.addi(bias);
        if (dt != DataType.FLOAT32) scores = scores.toType(DataType.FLOAT32, false);
        NDArray p = scores.softmax(-1);
        if (dt != DataType.FLOAT32) p = p.toType(dt, false);
        return p.matMul(v);
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(q.params());
        out.putAll(k.params());
        out.putAll(v.params());
        out.putAll(o.params());
        put(out, relativeBias);
    }
}
