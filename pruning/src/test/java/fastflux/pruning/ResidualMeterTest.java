package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ResidualMeterTest {

    @Test
    void nearZeroForALinearTruth() {
        var t = LeastSquaresFitTest.Truth.random(11, 12, 6, 2000, 1.0);
        try (NDManager m = NDManager.newBaseManager();
                LeastSquaresFit fit = new LeastSquaresFit("blk", 12, 6)) {
            t.feed(fit, m, 0, 1500, 500);
            ResidualMeter meter = new ResidualMeter(fit.solve(0.0));
            NDArray[] held = t.batch(m, 1500, 2000); // held out
            meter.accumulate(held[0], held[1]);
            assertEquals(500, meter.tokens());
            assertTrue(meter.relativeResidual() < 1e-6, "residual " + meter.relativeResidual());
        }
    }

    @Test
    void matchesADirectComputationForANonlinearBranch() {
        int in = 5;
        int out = 3;
        int tokens = 400;
        Random r = new Random(12);
        float[] x = new float[tokens * in];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[] f = new float[tokens * out]; // f = tanh(x0 x1) + sin(x_o): genuinely nonlinear
        for (int t = 0; t < tokens; t++) {
            for (int o = 0; o < out; o++) {
                f[t * out + o] = (float) (Math.tanh(x[t * in] * x[t * in + 1]) + Math.sin(2 * x[t * in + o]));
            }
        }
        float[] w = new float[out * in];
        float[] b = new float[out];
        for (int i = 0; i < w.length; i++) w[i] = (float) (0.3 * r.nextGaussian());
        for (int i = 0; i < out; i++) b[i] = (float) r.nextGaussian();
        AffineMap g = new AffineMap(in, out, w, b);

        double res = 0;
        double tgt = 0;
        for (int t = 0; t < tokens; t++) {
            for (int o = 0; o < out; o++) {
                double y = b[o];
                for (int i = 0; i < in; i++) y += (double) x[t * in + i] * w[o * in + i];
                double d = f[t * out + o] - y;
                res += d * d;
                tgt += (double) f[t * out + o] * f[t * out + o];
            }
        }
        double expected = Math.sqrt(res / tgt);

        ResidualMeter meter = new ResidualMeter(g);
        java.util.List<ResidualMeter> parts = java.util.List.of(new ResidualMeter(g), new ResidualMeter(g), new ResidualMeter(g));
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray xa = m.create(x, new Shape(4, 100, in));
            NDArray fa = m.create(f, new Shape(4, 100, out));
            for (int k = 0; k < 4; k++) { // streamed in four batches
                meter.accumulate(xa.get(k), fa.get(k));
                parts.get(Math.min(k, 2)).accumulate(xa.get(k), fa.get(k)); // and split over three meters
            }
        }
        assertEquals(expected, meter.relativeResidual(), 1e-12 * expected);
        assertTrue(expected > 0.5, "the fixture should be far from linear: " + expected);
        assertEquals(expected, ResidualMeter.relativeResidual(parts), 1e-12 * expected, "the parts' sums taken together");
        double energy = 0; // ‖F‖² per token, times each part's tokens: the whole ‖F‖²
        for (ResidualMeter p : parts) energy += p.branchEnergy() * p.tokens();
        assertEquals(tgt, energy, 1e-9 * tgt);
        assertTrue(Double.isNaN(ResidualMeter.relativeResidual(java.util.List.of())));
    }

    @Test
    void affineMapAppliesTorchLinearLayout() {
        // W = [[1, 2], [3, 4], [5, 6]] (out 3, in 2), b = [1, 0, -1]; x = [1, -1] → [0, -1, -2]
        AffineMap g = new AffineMap(2, 3, new float[] {1, 2, 3, 4, 5, 6}, new float[] {1, 0, -1});
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray y = g.apply(m.create(new float[] {1, -1}, new Shape(1, 1, 2)), m);
            assertEquals(new Shape(1, 1, 3), y.getShape());
            org.junit.jupiter.api.Assertions.assertArrayEquals(new float[] {0, -1, -2}, y.toFloatArray());
        }
    }
}
