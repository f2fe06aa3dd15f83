package fastflux.pruning.plan;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.FlopCount;
import fastflux.model.FluxParams;
import fastflux.model.Param;
import fastflux.model.Rope;
import fastflux.model.SingleStreamBlock;

/**
 * The plan's time estimate: one single-stream block at the model's real width, random weights, on the first device
 * in the compute dtype, over {@code rows} x {@code tokens} tokens; its FLOPs ({@link FlopCount}) over the median time
 * is the rate the job's FLOPs are divided by. Fewer tokens than the job's keep the probe short; the rate at the
 * job's token count is higher still (larger matmuls), so the estimate errs long.
 */
public final class ForwardProbe {
    private ForwardProbe() {}

    /** FLOP/s of one block forward at batch 1, median of {@code runs} after one warm-up. */
    public static double flopsPerSecond(FluxParams p, Device device, DataType dtype, int tokens, int runs) {
        return flopsPerSecond(p, device, dtype, 1, tokens, runs);
    }

    /** FLOP/s of one block forward over {@code rows} x {@code tokens}, median of {@code runs} after one warm-up. */
    public static double flopsPerSecond(FluxParams p, Device device, DataType dtype, int rows, int tokens, int runs) {
        try (NDManager m = NDManager.newBaseManager(device)) {
            SingleStreamBlock block = new SingleStreamBlock("probe.", p);
            m.getEngine().setRandomSeed(0);
            for (Param q : block.params().values()) {
                long[] s = q.shape().getShape();
                float bound = (float) (1.0 / Math.sqrt(s[s.length - 1]));
                NDArray v = q.name().endsWith(".scale") ? m.ones(q.shape(), dtype) : m.randomUniform(-bound, bound, q.shape(), dtype);
                q.set(v);
            }
            NDArray x = m.randomNormal(new Shape(rows, tokens, p.hiddenSize()), dtype);
            NDArray vec = m.randomNormal(new Shape(rows, p.hiddenSize()), dtype);
            Rope pe = Rope.embed(m.zeros(new Shape(rows, tokens, p.axesDim().length)), p.axesDim(), p.theta(), DataType.FLOAT32);
            double[] t = new double[runs];
            for (int r = -1; r < runs; r++) {
                try (NDManager scope = m.newSubManager()) {
                    x.tempAttach(scope);
                    long t0 = System.nanoTime();
                    NDArray y = block.forward(x, vec, pe);
                    y.toType(DataType.FLOAT32, false).sum().getFloat(); // waits for an asynchronous device
                    if (r >= 0) t[r] = (System.nanoTime() - t0) / 1e9;
                }
            }
            java.util.Arrays.sort(t);
            return FlopCount.singleBlock(p, rows, tokens) * 2.0 / t[runs / 2];
        }
    }
}
