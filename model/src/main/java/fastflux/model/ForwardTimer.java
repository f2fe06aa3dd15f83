package fastflux.model;

import ai.djl.ndarray.NDManager;
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

    /** Median milliseconds per model after {@code warmup} untimed rounds and {@code rounds} timed ones. */
    public static double[] medianMs(List<FluxModel> models, FluxInputs in, int warmup, int rounds) {
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
        double[] medians = new double[n];
        for (int i = 0; i < n; i++) medians[i] = median(ms[i]);
        return medians;
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
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }
}
