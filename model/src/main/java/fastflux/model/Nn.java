package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/** Stateless tensor functions of the FLUX.1 reference, with shapes in the comments. Norms run in fp32. */
public final class Nn {
    private Nn() {}

    public static final float NORM_EPS = 1e-6f;

    /** LayerNorm over the last axis without affine parameters, eps 1e-6, computed in fp32. */
    // x [..., H] -> [..., H]
    public static NDArray layerNorm(NDArray x) {
        DataType dt = x.getDataType();
        NDArray x32 = dt == DataType.FLOAT32 ? x : x.toType(DataType.FLOAT32, false);
        long h = x.getShape().getShape()[x.getShape().dimension() - 1];
        NDManager m = x.getManager();
        try (NDArray gamma = m.ones(new Shape(h)); NDArray beta = m.zeros(new Shape(h))) {
            NDArray y = ai.djl.nn.norm.LayerNorm.layerNorm(x32, new Shape(h), gamma, beta, NORM_EPS).singletonOrThrow();
            return dt == DataType.FLOAT32 ? y : y.toType(dt, false);
        }
    }

    /** RMSNorm of the reference: {@code (x * rsqrt(mean(x²) + 1e-6)).to(dtype) * scale}, statistics in fp32. */
    // x [..., D], scale [D] -> [..., D]
    public static NDArray rmsNorm(NDArray x, NDArray scale) {
        DataType dt = x.getDataType();
        NDArray x32 = dt == DataType.FLOAT32 ? x : x.toType(DataType.FLOAT32, false);
        NDArray rrms = Tensors.add(x32.square().mean(new int[] {-1}, true), NORM_EPS).sqrt();
        NDArray y = x32.div(rrms);
        if (dt != DataType.FLOAT32) y = y.toType(dt, false);
        return scaled(y, scale); // y is fresh
    }

    private static final float GELU_C = (float) (2 * Math.sqrt(2.0 / Math.PI));

    /**
     * GELU with the tanh approximation, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as the identical
     * x·σ(2√(2/π)·x·(1 + 0.044715·x²)): two allocations and six ops instead of eight of each (torch's native
     * tanh-GELU is not exposed by DJL).
     */
    public static NDArray geluTanh(NDArray x) {
        if (recordingGradients()) {
            NDArray inner = Tensors.add(Tensors.mul(x.mul(x), 0.044715f * GELU_C), GELU_C).mul(x);
            return inner.getNDArrayInternal().sigmoid().mul(x);
        }
        NDArray inner = Tensors.addi(Tensors.muli(x.mul(x), 0.044715f * GELU_C), GELU_C).muli(x);
        return inner.getNDArrayInternal().sigmoid().muli(x);
    }

    /** SiLU, x·σ(x). */
    public static NDArray silu(NDArray x) {
        return x.mul(x.getNDArrayInternal().sigmoid());
    }

    /** adaLN: {@code (1 + scale) * x + shift}. */
    // x [B, L, H], shift/scale [B, 1, H]
    public static NDArray modulate(NDArray x, NDArray shift, NDArray scale) {
        NDArray y = x.mul(Tensors.add(scale, 1f));
        return recordingGradients() ? y.add(shift) : y.addi(shift);
    }

    /**
     * Sinusoidal embedding of the reference: t·1000, 256 dims, cos first, frequencies
     * exp(-ln(10000)·i/half), computed with the same tensor ops so fp32 results match.
     */
    // t [B] -> [B, dim]
    public static NDArray timestepEmbedding(NDArray t, int dim) {
        NDManager m = t.getManager();
        int half = dim / 2;
        NDArray freqs = Tensors.div(Tensors.mul(m.arange(0, half, 1, DataType.FLOAT32), (float) -Math.log(10000.0)), half).exp();
        NDArray args = Tensors.mul(t.toType(DataType.FLOAT32, false), 1000f).expandDims(1).mul(freqs.expandDims(0));
        NDArray emb = args.cos().concat(args.sin(), 1);
        if (dim % 2 == 1) emb = emb.concat(m.zeros(new Shape(t.getShape().get(0), 1)), 1);
        return emb.toType(t.getDataType(), false);
    }

    /** Largest finite fp16 value; the fp16 residual stream is clamped to it, as other FLUX runtimes do. */
    public static final float FP16_MAX = 65504f;

    /** The shortcut plus the residual branch, {@code x + f}; in fp16 the sum is clamped to the finite range. */
    public static NDArray addResidual(NDArray x, NDArray f) {
        NDArray y = x.add(f);
        return y.getDataType() == DataType.FLOAT16 ? y.clip(-FP16_MAX, FP16_MAX) : y;
    }

    /**
     * Whether autograd is recording (inside a GradientCollector). In-place ops save allocations at inference
     * but overwrite values that backward needs, so the functions here use them only when this is false.
     */
    public static boolean recordingGradients() {
        return ai.djl.pytorch.jni.JniUtils.isGradMode();
    }

    /** {@code fresh * s}, in place unless gradients are being recorded; {@code fresh} must not be used again. */
    public static NDArray scaled(NDArray fresh, NDArray s) {
        return recordingGradients() ? fresh.mul(s) : fresh.muli(s);
    }
}
