package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Scaled dot-product attention with matmul + softmax (DJL has no fused kernel), computed in chunks of heads
 * and, if needed, query tiles, so the score matrix held at once is at most {@link #maxScoreElements} floats
 * instead of B·H·L².
 */
public final class Attention {
    private Attention() {}

    /** Upper bound on the elements of one chunk's score matrix (64 Mi floats = 256 MB in fp32). */
    public static long maxScoreElements = 64L << 20;

    /** RoPE on q and k (in fp32, as the reference), attention, heads merged. */
    // q, k, v [B, H, L, D] -> [B, L, H*D]
    public static NDArray attention(NDArray q, NDArray k, NDArray v, Rope pe) {
        DataType dt = v.getDataType();
        NDArray q32 = pe.apply(q.toType(DataType.FLOAT32, false));
        NDArray k32 = pe.apply(k.toType(DataType.FLOAT32, false));
        NDArray qr = dt == DataType.FLOAT32 ? q32 : q32.toType(dt, false);
        NDArray kr = dt == DataType.FLOAT32 ? k32 : k32.toType(dt, false);
        NDArray out = scaledDotProduct(qr, kr, v); // [B, H, L, D]
        Shape s = out.getShape();
        return out.transpose(0, 2, 1, 3).reshape(s.get(0), s.get(2), s.get(1) * s.get(3));
    }

    /** softmax(q kᵀ / √D) v, chunked over heads and query rows; softmax in fp32. */
    // q [B, H, Lq, D], k, v [B, H, Lk, D] -> [B, H, Lq, D]
    public static NDArray scaledDotProduct(NDArray q, NDArray k, NDArray v) {
        long[] s = q.getShape().getShape();
        long b = s[0], h = s[1], lq = s[2], d = s[3];
        long lk = k.getShape().get(2);
        float scale = (float) (1.0 / Math.sqrt(d));
        long perHead = b * lq * lk;
        long heads = Math.max(1, Math.min(h, maxScoreElements / Math.max(1, perHead)));
        long rows = heads == 1 ? Math.max(1, Math.min(lq, maxScoreElements / Math.max(1, b * lk))) : lq;
        if (heads >= h && rows >= lq) return attendChunk(q, k, v, scale);
        NDList headOuts = new NDList();
        for (long h0 = 0; h0 < h; h0 += heads) {
            long h1 = Math.min(h, h0 + heads);
            NDArray kh = k.get(new NDIndex(":, {}:{}", h0, h1));
            NDArray vh = v.get(new NDIndex(":, {}:{}", h0, h1));
            NDList rowOuts = new NDList();
            for (long r0 = 0; r0 < lq; r0 += rows) {
                long r1 = Math.min(lq, r0 + rows);
                NDArray qc = q.get(new NDIndex(":, {}:{}, {}:{}", h0, h1, r0, r1));
                rowOuts.add(attendChunk(qc, kh, vh, scale));
            }
            headOuts.add(rowOuts.size() == 1 ? rowOuts.get(0) : NDArrays.concat(rowOuts, 2));
        }
        return headOuts.size() == 1 ? headOuts.get(0) : NDArrays.concat(headOuts, 1);
    }

    private static NDArray attendChunk(NDArray q, NDArray k, NDArray v, float scale) {
        DataType dt = v.getDataType();
        // The scale goes on q (lq·D elements) rather than on the scores (lq·Lk).
        NDArray scores = Tensors.mul(q, scale).matMul(k.transpose(0, 1, 3, 2)); // [B, h, lq, Lk]
        if (dt != DataType.FLOAT32) scores = scores.toType(DataType.FLOAT32, false);
        NDArray p = scores.softmax(-1);
        if (dt != DataType.FLOAT32) p = p.toType(dt, false);
        return p.matMul(v);
    }
}
