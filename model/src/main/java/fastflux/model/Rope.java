package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * 3-axis rotary position embedding on interleaved pairs, as FLUX.1's {@code EmbedND}: each axis i of the
 * position ids gets {@code axes_dim[i]/2} frequencies {@code theta^(-2j/axes_dim[i])}; angles are computed
 * in float64 (as the reference does) and stored as cos/sin tables [B, 1, L, head_dim/2].
 */
public final class Rope implements AutoCloseable {
    private final NDArray cos; // [B, 1, L, D/2]
    private final NDArray sin; // [B, 1, L, D/2]
    private final NDArray cos2; // [B, 1, L, D]: c0, c0, c1, c1, ...
    private final NDArray sin2; // [B, 1, L, D]: -s0, s0, -s1, s1, ...

    private Rope(NDArray cos, NDArray sin) {
        this.cos = cos;
        this.sin = sin;
        Shape s = cos.getShape();
        Shape full = new Shape(s.get(0), s.get(1), s.get(2), 2 * s.get(3));
        this.cos2 = cos.expandDims(4).concat(cos.expandDims(4), 4).reshape(full);
        this.sin2 = sin.neg().expandDims(4).concat(sin.expandDims(4), 4).reshape(full);
    }

    /** ids [B, L, n_axes] (float positions) -> the rotary tables, created in ids' manager. */
    public static Rope embed(NDArray ids, int[] axesDim, int theta, DataType dtype) {
        long[] s = ids.getShape().getShape();
        int b = (int) s[0], l = (int) s[1], axes = (int) s[2];
        if (axes != axesDim.length) {
            throw new IllegalArgumentException("position ids have " + axes + " axes but axes_dim has " + axesDim.length);
        }
        int half = 0;
        for (int d : axesDim) half += d / 2;
        float[] pos = ids.toType(DataType.FLOAT32, false).toFloatArray();
        float[] c = new float[b * l * half];
        float[] sn = new float[b * l * half];
        for (int bi = 0; bi < b; bi++) {
            for (int li = 0; li < l; li++) {
                int o = (bi * l + li) * half;
                for (int a = 0; a < axes; a++) {
                    double p = pos[(bi * l + li) * axes + a];
                    int dim = axesDim[a];
                    for (int j = 0; j < dim / 2; j++) {
                        double omega = 1.0 / Math.pow(theta, (2.0 * j) / dim);
                        double angle = p * omega;
                        c[o] = (float) Math.cos(angle);
                        sn[o] = (float) Math.sin(angle);
                        o++;
                    }
                }
            }
        }
        NDManager m = ids.getManager();
        Shape shape = new Shape(b, 1, l, half);
        return new Rope(Tensors.create(m, c, shape).toType(dtype, false), Tensors.create(m, sn, shape).toType(dtype, false));
    }

    /**
     * Rotates interleaved pairs (x[2j], x[2j+1]) of q or k: {@code out = x·cos2 + swap(x)·sin2}, with swap
     * exchanging each pair and cos2 = [c, c], sin2 = [−s, s] per pair. Bit for bit the reference's
     * (x0·c − x1·s, x0·s + x1·c), in two allocations instead of seven.
     */
    // x [B, H, L, D] -> [B, H, L, D]
    public NDArray apply(NDArray x) {
        Shape s = x.getShape();
        NDArray swapped = x.reshape(s.get(0), s.get(1), s.get(2), s.get(3) / 2, 2).flip(4).reshape(s);
        NDArray rotated = Nn.scaled(swapped, sin2);
        return Nn.recordingGradients() ? x.mul(cos2).add(rotated) : x.mul(cos2).addi(rotated);
    }

    /** The reference's table layout {@code [B, 1, L, D/2, 2, 2] = [[cos, -sin], [sin, cos]]}. */
    public NDArray referenceTable() {
        NDArray row0 = cos.expandDims(4).concat(sin.neg().expandDims(4), 4); // [B,1,L,D/2,2]
        NDArray row1 = sin.expandDims(4).concat(cos.expandDims(4), 4);
        return row0.expandDims(4).concat(row1.expandDims(4), 4); // [B,1,L,D/2,2,2]
    }

    /** The device the tables live on. */
    public ai.djl.Device device() {
        return cos.getDevice();
    }

    /** The same tables on another device (new arrays, in the originals' manager). */
    public Rope toDevice(ai.djl.Device device) {
        return new Rope(cos.toDevice(device, true), sin.toDevice(device, true));
    }

    /** The same tables cast to another dtype (new arrays). */
    public Rope to(DataType dtype) {
        return new Rope(cos.toType(dtype, true), sin.toType(dtype, true));
    }

    @Override
    public void close() {
        cos.close();
        sin.close();
        cos2.close();
        sin2.close();
    }
}
