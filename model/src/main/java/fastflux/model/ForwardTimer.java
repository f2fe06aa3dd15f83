package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.List;

/**
 * Times transformer forwards of several models on the same inputs, interleaved: every round runs each model
 * once, the order rotating from round to round. A machine that slows down or speeds up during the measurement
 * (another process, frequency changes) then affects every model alike, so ratios of the medians compare like
 * with like; timing one model after the other lets such drift land on one side only.
 */
public final class ForwardTimer {
    private ForwardTimer() {}

    /**
     * The timed rounds: {@code ms[model][round]}. Round r ran every model once, close together in time, so the
     * per-round ratio of two models cancels whatever the machine did during that round.
     */
    public record Timing(double[][] ms) {
        public double medianMs(int model) {
            return median(ms[model]);
        }

        public double[] medians() {
            double[] m = new double[ms.length];
            for (int i = 0; i < m.length; i++) m[i] = medianMs(i);
            return m;
        }

        /** Quartiles {q1, median, q3} over rounds of {@code ms[a][r] / ms[b][r]}: the paired latency ratio. */
        public double[] ratioQuartiles(int a, int b) {
            int n = ms[a].length;
            double[] r = new double[n];
            for (int k = 0; k < n; k++) r[k] = ms[a][k] / ms[b][k];
            Arrays.sort(r);
            return new double[] {quantile(r, 0.25), quantile(r, 0.5), quantile(r, 0.75)};
        }

        public int rounds() {
            return ms[0].length;
        }
    }

    /** Every model once per round, the order rotating, {@code warmup} untimed rounds first. */
    public static Timing time(List<FluxModel> models, FluxInputs in, int warmup, int rounds) {
        if (models.isEmpty() || rounds < 1 || warmup < 0) {
            throw new IllegalArgumentException("need models, rounds >= 1 and warmup >= 0");
        }
        int n = models.size();
        double[][] ms = new double[n][rounds];
        for (int r = -warmup; r < rounds; r++) {
            for (int k = 0; k < n; k++) {
                int i = Math.floorMod(k + r, n);
                double t = once(models.get(i), in);
                if (r >= 0) ms[i][r] = t;
            }
        }
        return new Timing(ms);
    }

    /**
     * This JVM's fp32 GEMM rate in GFLOP/s, the reference of the benchmarks' shares: 3 warm-ups, then the median of 7
     * timed [n, n] x [n, n] matMuls.
     */
    public static double gemmGflops(NDManager m, int n) {
        try (NDManager scope = m.newSubManager()) {
            NDArray x = scope.randomUniform(-1, 1, new Shape(n, n));
            NDArray y = scope.randomUniform(-1, 1, new Shape(n, n));
            double[] ms = new double[7];
            for (int i = -3; i < ms.length; i++) {
                try (NDManager run = scope.newSubManager()) {
                    x.tempAttach(run);
                    long t0 = System.nanoTime();
                    NDArray z = x.matMul(y);
                    z.getFloat(0, 0);
                    double t = (System.nanoTime() - t0) / 1e6;
                    if (i >= 0) ms[i] = t;
                }
            }
            return 2.0 * n * n * n / median(ms) / 1e6;
        }
    }

    /** One forward, its output read back to the host (so lazy engines finish), in milliseconds. */
    public static double once(FluxModel model, FluxInputs in) {
        try (NDManager scope = in.img().getManager().newSubManager()) {
            FluxInputs s = in.tempAttach(scope);
            long t0 = System.nanoTime();
            model.forward(s).toFloatArray();
            return (System.nanoTime() - t0) / 1e6;
        }
    }

    public static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return quantile(s, 0.5);
    }

    /** The q-quantile of sorted values, linear between order statistics (the median of an even count: the mean of the middle two). */
    static double quantile(double[] sorted, double q) {
        double pos = q * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }
}
