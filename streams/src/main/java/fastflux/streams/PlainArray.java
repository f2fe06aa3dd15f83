package fastflux.streams;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Tensors;

/**
 * An array as plain Java data: what crosses a shard boundary and leaves the denoise stage, because NDArrays
 * belong to the manager (and device) that made them and never travel. Values are held as float32, which is
 * exact for the fp32, fp16 and bf16 activations and the integer position ids that travel here; {@code dtype}
 * is the type the receiver recreates, so that its arithmetic is the sender's.
 */
public record PlainArray(float[] data, long[] shape, DataType dtype) {
    public PlainArray {
        if (new Shape(shape).size() != data.length) {
            throw new IllegalArgumentException("shape " + new Shape(shape) + " does not hold " + data.length + " values");
        }
    }

    /** Copies {@code a} out of native memory. */
    public static PlainArray of(NDArray a) {
        float[] v = a.getDataType() == DataType.FLOAT32 ? a.toFloatArray() : a.toType(DataType.FLOAT32, false).toFloatArray();
        return new PlainArray(v, a.getShape().getShape(), a.getDataType());
    }

    /** The array again, owned by {@code m} (a copy in libtorch-owned storage, see {@link Tensors#create}). */
    public NDArray toNd(NDManager m) {
        NDArray a = Tensors.create(m, data, new Shape(shape));
        return dtype == DataType.FLOAT32 ? a : a.toType(dtype, false);
    }

    public long bytes() {
        return 4L * data.length;
    }
}
