package fastflux.pipeline.clip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link ClipFrechet}: the distance's known values and its minimum image count. */
class ClipFrechetTest {

    private static double[][] gaussian(Random rnd, int n, int d) {
        double[][] out = new double[n][d];
        for (double[] r : out) for (int j = 0; j < d; j++) r[j] = rnd.nextGaussian() * (1 + j % 3);
        return out;
    }

    @Test
    void aShiftedSetIsItsShiftSquaredAway() {
        double[][] a = gaussian(new Random(36), 40, 24);
        double[][] b = new double[40][24];
        double shift2 = 0;
        for (int j = 0; j < 24; j++) shift2 += (0.1 * j) * (0.1 * j);
        for (int i = 0; i < 40; i++) for (int j = 0; j < 24; j++) b[i][j] = a[i][j] + 0.1 * j;
        assertEquals(0.0, ClipFrechet.distance(a, a), 1e-8);
        assertEquals(shift2, ClipFrechet.distance(a, b), 1e-6 * shift2);
        double other = ClipFrechet.distance(a, gaussian(new Random(37), 40, 24));
        assertTrue(other > 0, "independent samples of one Gaussian are some distance apart: " + other);
        assertEquals(other, ClipFrechet.distance(gaussian(new Random(37), 40, 24), a), 1e-6 * other, "symmetric");
    }

    @Test
    void fewerImagesThanDimensionsAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClipFrechet.distance(gaussian(new Random(1), 23, 24), gaussian(new Random(2), 30, 24)));
        assertTrue(e.getMessage().contains("at least 24 images per set, got 23"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ClipFrechet.distance(gaussian(new Random(1), 30, 24), gaussian(new Random(2), 30, 23)));
        assertTrue(e.getMessage().contains("differ in dimension"), e.getMessage());
        assertEquals(768, ClipFrechet.minimumImages(768));
        double[][] widened = ClipFrechet.toDouble(new float[][] {{0.1f, -2f}});
        assertEquals(0.1f, widened[0][0], 0);
    }
}
