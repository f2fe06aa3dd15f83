package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class FrechetDistanceTest {

    @Test
    void eigenSolverMatchesHandComputedSquareRoot() {
        // [[5,4],[4,5]] has eigenvalues 1 and 9; its square root is [[2,1],[1,2]].
        double[][] root = fastflux.world.SymmetricEigen.sqrtPsd(new double[][] {{5, 4}, {4, 5}});
        assertArrayEquals(new double[] {2, 1}, root[0], 1e-12);
        assertArrayEquals(new double[] {1, 2}, root[1], 1e-12);
        assertArrayEquals(new double[] {1, 9}, fastflux.world.SymmetricEigen.decompose(new double[][] {{5, 4}, {4, 5}}).values(), 1e-12);
        // The 1-D Laplacian: eigenvalues 2 - sqrt 2, 2, 2 + sqrt 2.
        double[][] lap = {{2, -1, 0}, {-1, 2, -1}, {0, -1, 2}};
        assertArrayEquals(new double[] {2 - Math.sqrt(2), 2, 2 + Math.sqrt(2)},
                fastflux.world.SymmetricEigen.decompose(lap).values(), 1e-12);
        // A PSD matrix of rank 1 and a diagonal one.
        double[][] rank1 = fastflux.world.SymmetricEigen.sqrtPsd(new double[][] {{4, 4}, {4, 4}});
        assertArrayEquals(new double[] {Math.sqrt(2), Math.sqrt(2)}, rank1[0], 1e-12);
        double[][] diag = fastflux.world.SymmetricEigen.sqrtPsd(new double[][] {{9, 0, 0}, {0, 0, 0}, {0, 0, 0.25}});
        assertArrayEquals(new double[] {3, 0, 0}, diag[0], 1e-12);
        assertArrayEquals(new double[] {0, 0, 0.5}, diag[2], 1e-12);
    }

    @Test
    void eigenDecompositionReconstructsARandomSymmetricMatrix() {
        int n = 60;
        SplittableRandom r = new SplittableRandom(3);
        double[][] a = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                a[i][j] = a[j][i] = r.nextDouble(-1, 1);
            }
        }
        fastflux.world.SymmetricEigen e = fastflux.world.SymmetricEigen.decompose(a);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                double dot = 0;
                for (int k = 0; k < n; k++) {
                    sum += e.vectors()[i][k] * e.values()[k] * e.vectors()[j][k];
                    dot += e.vectors()[k][i] * e.vectors()[k][j];
                }
                assertEquals(a[i][j], sum, 1e-10);
                assertEquals(i == j ? 1 : 0, dot, 1e-10);
            }
        }
        for (int k = 1; k < n; k++) {
            assertTrue(e.values()[k - 1] <= e.values()[k], "ascending");
        }
        assertThrows(IllegalArgumentException.class, () -> fastflux.world.SymmetricEigen.decompose(new double[][] {{1, 2}, {0, 1}}));
    }

    @Test
    void gaussianFormulaOnHandComputedCase() {
        // 1-D: (mu1 - mu2)^2 + (s1 - s2)^2 in standard deviations.
        fastflux.world.Frechet.Gaussian a = new fastflux.world.Frechet.Gaussian(new double[] {1}, new double[][] {{4}}, 10);
        fastflux.world.Frechet.Gaussian b = new fastflux.world.Frechet.Gaussian(new double[] {3}, new double[][] {{9}}, 10);
        assertEquals(4 + 1, FrechetDistance.distance(a, b), 1e-12);
        // Commuting diagonal covariances: sum of (sqrt s1 - sqrt s2)^2.
        fastflux.world.Frechet.Gaussian c = new fastflux.world.Frechet.Gaussian(new double[] {0, 0},
                new double[][] {{1, 0}, {0, 16}}, 10);
        fastflux.world.Frechet.Gaussian d = new fastflux.world.Frechet.Gaussian(new double[] {0, 0},
                new double[][] {{4, 0}, {0, 1}}, 10);
        assertEquals(1 + 9, FrechetDistance.distance(c, d), 1e-12);
    }

    @Test
    void identicalSetsAreNearZeroShiftedArePositiveAndItIsSymmetric() {
        List<Image> ref = FrechetDistance.referenceImages(200, 1);
        List<Image> same = FrechetDistance.referenceImages(200, 1);
        List<Image> other = FrechetDistance.referenceImages(200, 2);
        assertEquals(0, FrechetDistance.distance(same, ref), 1e-6);
        double sameWorld = FrechetDistance.distance(other, ref);

        // A shifted distribution: every image dimmed and with a noisy grey haze.
        List<Image> shifted = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(9);
        for (Image img : other) {
            float[] rgb = img.rgb().clone();
            for (int i = 0; i < rgb.length; i++) {
                rgb[i] = (float) Math.min(1, 0.6 * rgb[i] + 0.3 * r.nextDouble());
            }
            shifted.add(new Image(rgb));
        }
        double shiftedFd = FrechetDistance.distance(shifted, ref);
        assertTrue(shiftedFd > 0);
        assertTrue(FrechetDistance.distance(FrechetDistance.referenceImages(120, 3),
                FrechetDistance.referenceImages(120, 1)) > 0, "two samples of the world differ a little");
        assertTrue(shiftedFd > 3 * sameWorld, "shift " + shiftedFd + " vs sampling noise " + sameWorld);
        assertEquals(shiftedFd, FrechetDistance.distance(ref, shifted), 1e-6 * Math.max(1, shiftedFd));
        assertEquals(sameWorld, FrechetDistance.distance(ref, other), 1e-6 * Math.max(1, sameWorld));
    }

    @Test
    void featuresKeepLayoutAndColour() {
        assertEquals(64, FrechetDistance.FEATURE_DIM);
        Image red = ShapesWorld.render(Scene.of(new SceneObject(ShapeKind.SQUARE, Colour.RED, 0, 0, 0, 0)));
        Image redElsewhere = ShapesWorld.render(Scene.of(new SceneObject(ShapeKind.SQUARE, Colour.RED, 2, 3, 0, 0)));
        Image blue = ShapesWorld.render(Scene.of(new SceneObject(ShapeKind.SQUARE, Colour.BLUE, 0, 0, 0, 0)));
        double[] f = FrechetDistance.features(red);
        assertEquals(36 / 64.0, f[0], 1e-6, "mean red of cell (0, 0)");
        assertEquals(0, f[1], 1e-12);
        assertEquals(0, f[2], 1e-12);
        assertEquals(36 / 64.0, f[FrechetDistance.OCCUPANCY_OFFSET], 1e-12, "palette pixels of cell (0, 0)");
        assertEquals(0, f[FrechetDistance.OCCUPANCY_OFFSET + 1], 1e-12);
        assertTrue(!java.util.Arrays.equals(f, FrechetDistance.features(redElsewhere)));
        assertTrue(!java.util.Arrays.equals(f, FrechetDistance.features(blue)));
    }

    @Test
    void tooFewImagesIsAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FrechetDistance.fit(FrechetDistance.referenceImages(50, 1)));
        assertTrue(e.getMessage().contains("at least 64 images"), e.getMessage());
        FrechetDistance.fit(FrechetDistance.referenceImages(120, 1)); // the usual 30 prompts x 4 seeds suffice
    }
}
