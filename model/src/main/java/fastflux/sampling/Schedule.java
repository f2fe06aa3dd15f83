package fastflux.sampling;

/**
 * The reference's timestep schedule: {@code linspace(1, 0, steps + 1)}, shifted towards high noise for long
 * sequences: {@code mu} is linear in image_seq_len through (256, 0.5) and (4096, 1.15), and
 * {@code t' = e^mu / (e^mu + 1/t − 1)}. Schnell-style configs use no shift. Arithmetic in float32 like the
 * reference's tensors.
 */
public final class Schedule {
    private Schedule() {}

    public static final double BASE_SHIFT = 0.5;
    public static final double MAX_SHIFT = 1.15;

    /** mu for a sequence length, on the line through (256, base) and (4096, max). */
    public static double mu(int imageSeqLen) {
        double m = (MAX_SHIFT - BASE_SHIFT) / (4096 - 256);
        double b = BASE_SHIFT - m * 256;
        return m * imageSeqLen + b;
    }

    public static float[] timesteps(int steps, int imageSeqLen, boolean shift) {
        if (steps < 1) throw new IllegalArgumentException("steps must be >= 1, got " + steps);
        float[] t = linspace(1f, 0f, steps + 1);
        if (shift) {
            float e = (float) Math.exp(mu(imageSeqLen));
            for (int i = 0; i < t.length; i++) {
                t[i] = e / (e + (1f / t[i] - 1f)); // t = 0 gives 1/0 = inf and so 0, as in torch
            }
        }
        return t;
    }

    /** torch.linspace in float32: the first half counts up from start, the second half down from end. */
    static float[] linspace(float start, float end, int n) {
        float[] out = new float[n];
        if (n == 1) {
            out[0] = start;
            return out;
        }
        float step = (end - start) / (n - 1);
        int half = n / 2;
        for (int i = 0; i < n; i++) {
            out[i] = i < half ? start + step * i : end - step * (n - 1 - i);
        }
        return out;
    }
}
