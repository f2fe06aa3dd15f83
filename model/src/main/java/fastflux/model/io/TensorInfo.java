package fastflux.model.io;

import java.util.Arrays;

/**
 * One header entry: a tensor's dtype, shape and byte range {@code [begin, end)} relative to the
 * start of the data section.
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

    public TensorInfo {
        shape = shape.clone();
    }

    /** Number of elements: the product of the dims (1 for a scalar, shape []). */
    public long numel() {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** Bytes in the data section, {@code end - begin}. */
    public long byteLength() {
        return end - begin;
    }

    /** The shape as ints, for APIs that want them; fails if a dim does not fit an int. */
    public int[] intShape() {
        int[] s = new int[shape.length];
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] > Integer.MAX_VALUE) {
                throw new IllegalStateException(
                        "tensor '" + name + "': dim " + i + " = " + shape[i] + " does not fit an int");
            }
            s[i] = (int) shape[i];
        }
        return s;
    }

    /** The shape array (a copy: records expose their components, arrays are mutable). */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t
                && name.equals(t.name)
                && dtype == t.dtype
                && Arrays.equals(shape, t.shape)
                && begin == t.begin
                && end == t.end;
    }

    @Override
    public int hashCode() {
        return 31 * (31 * name.hashCode() + dtype.hashCode()) + Arrays.hashCode(shape) + Long.hashCode(begin);
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
    }
}
