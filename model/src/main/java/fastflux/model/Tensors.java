package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Arrays from Java data that own their memory. DJL's PyTorch engine wraps a direct ByteBuffer with
 * {@code from_blob} and keeps the buffer alive only through the wrapping handle; tensors derived without a
 * copy can outlive it. Copying into libtorch-owned storage at once removes that class of lifetime bugs.
 */
public final class Tensors {
    private Tensors() {}

    public static NDArray create(NDManager m, float[] data, Shape shape) {
        try (NDArray blob = m.create(data, shape)) {
            return blob.duplicate();
        }
    }

    public static NDArray create(NDManager m, int[] data, Shape shape) {
        try (NDArray blob = m.create(data, shape)) {
            return blob.duplicate();
        }
    }
}
