package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;

/**
 * Arrays from Java data that own their memory. DJL's PyTorch engine wraps a direct ByteBuffer with
 * {@code from_blob} and keeps the buffer alive only through the wrapping handle; tensors derived without a
 * copy can outlive it. Copying into libtorch-owned storage at once removes that class of lifetime bugs.
 *
 * <p>The same holds for numbers: DJL's {@code x.mul(float)} (add, div, muli, ...) wraps the number in a
 * {@code from_blob} 0-dim tensor over a 4-byte direct buffer and closes the handle right after the op. Under a
 * GradientCollector autograd keeps that tensor for backward (MulBackward and DivBackward save it), so when the
 * GC frees the buffer between forward and backward, backward reads whatever malloc put there since: NaN or
 * wrong gradients, and heap corruption later. Never pass a Java number to a DJL tensor op; use the scalar ops
 * here, which make the number a libtorch-owned FLOAT32 0-dim tensor (the dtype DJL gives a float, so results
 * are bit-identical). {@code NumberOpsTest} keeps the code base free of the DJL overloads.
 */
public final class Tensors {
    private Tensors() {}

    public static NDArray create(NDManager m, float[] data, Shape shape) {
        ByteBuffer buf = DirectBuffers.allocate(Math.multiplyExact(data.length, 4));
        buf.asFloatBuffer().put(data);
        return copyOf(m, buf, shape, DataType.FLOAT32);
    }

    public static NDArray create(NDManager m, int[] data, Shape shape) {
        ByteBuffer buf = DirectBuffers.allocate(Math.multiplyExact(data.length, 4));
        buf.asIntBuffer().put(data);
        return copyOf(m, buf, shape, DataType.INT32);
    }

    /**
     * Wraps {@code buf} with {@code from_blob}, copies it into libtorch-owned storage and frees {@code buf} at
     * once. DJL's {@code m.create(float[])} would copy into a direct buffer of its own that only the GC frees: one
     * per call, held until the next collection, which a run producing little Java garbage may not reach for a long
     * time (native memory then grows with the number of calibration batches).
     */
    private static NDArray copyOf(NDManager m, ByteBuffer buf, Shape shape, DataType type) {
        try (NDArray blob = m.create(buf, shape, type)) {
            return blob.duplicate();
        } finally {
            DirectBuffers.free(buf);
        }
    }

    /** A FLOAT32 0-dim tensor holding {@code v} in libtorch-owned memory, created in {@code m}. */
    public static NDArray scalar(NDManager m, float v) {
        return m.full(new Shape(), v, DataType.FLOAT32);
    }

    /** {@code x + v} (a new array in x's manager). */
    public static NDArray add(NDArray x, float v) {
        try (NDArray s = scalar(x.getManager(), v)) {
            return x.add(s);
        }
    }

    /** {@code x · v} (a new array in x's manager). */
    public static NDArray mul(NDArray x, float v) {
        try (NDArray s = scalar(x.getManager(), v)) {
            return x.mul(s);
        }
    }

    /** {@code x / v} (a new array in x's manager). */
    public static NDArray div(NDArray x, float v) {
        try (NDArray s = scalar(x.getManager(), v)) {
            return x.div(s);
        }
    }

    /** {@code x += v} in place; returns x. */
    public static NDArray addi(NDArray x, float v) {
        try (NDArray s = scalar(x.getManager(), v)) {
            return x.addi(s);
        }
    }

    /** {@code x ·= v} in place; returns x. */
    public static NDArray muli(NDArray x, float v) {
        try (NDArray s = scalar(x.getManager(), v)) {
            return x.muli(s);
        }
    }
}
