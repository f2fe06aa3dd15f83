package fastflux.shapes;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * An FID stand-in for the Shapes world: the Fréchet distance between Gaussian fits of a fixed feature
 * map of generated and reference images, {@code |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)}.
 *
 * <p>Feature map ({@value #FEATURE_DIM} dims), keeping layout and colour: for each 8x8 lattice cell,
 * the mean R, G and B (48; the palette's colours are distinct channel mixes, so this sees which colour
 * sits where, and how much of it: object area, hence partly shape), plus the fraction of the cell's
 * pixels the judge's pixel classifier calls a palette colour (16; separates clean saturated objects
 * from grey haze or washed-out colour). 64 dims keep the Gaussian fit affordable: the usual
 * evaluation of 30 prompts x 4 seeds = 120 images is well above the minimum of {@value #FEATURE_DIM}
 * images. A 112-dim variant (6 colour masks x 16 cells + 16 luminances) was tried and rejected: with
 * 120 images its covariance estimation noise between two samples of the world itself was half of the
 * distance to an all-black set, against a fifth with these 64 dims.
 */
public final class FrechetDistance {
    public static final int GRID = ShapesWorld.GRID;
    public static final int FEATURE_DIM = 4 * GRID * GRID;

    /** Offset of the palette-occupancy block; cell c's mean RGB sits at 3c, 3c+1, 3c+2. */
    public static final int OCCUPANCY_OFFSET = 3 * GRID * GRID;

    private FrechetDistance() {}

    /** A Gaussian fit: mean and unbiased covariance of n feature vectors. */
    public record Gaussian(double[] mean, double[][] cov, int n) {}

    public static double[] features(Image image) {
        double[] f = new double[FEATURE_DIM];
        int[] colour = Judge.colourMap(image);
        float[] rgb = image.rgb();
        int cell = ShapesWorld.CELL;
        double perPixel = 1.0 / (cell * cell);
        for (int y = 0; y < Image.SIZE; y++) {
            for (int x = 0; x < Image.SIZE; x++) {
                int c = (y / cell) * GRID + x / cell;
                int p = y * Image.SIZE + x;
                for (int ch = 0; ch < 3; ch++) {
                    f[3 * c + ch] += perPixel * rgb[p * 3 + ch];
                }
                if (colour[p] >= 0) {
                    f[OCCUPANCY_OFFSET + c] += perPixel;
                }
            }
        }
        return f;
    }

    public static Gaussian fit(List<Image> images) {
        if (images.size() < FEATURE_DIM) {
            throw new IllegalArgumentException("FD needs at least " + FEATURE_DIM + " images (the feature dimension) "
                    + "for a covariance estimate, got " + images.size());
        }
        double[][] feats = new double[images.size()][];
        for (int i = 0; i < feats.length; i++) {
            feats[i] = features(images.get(i));
        }
        return fitFeatures(feats);
    }

    /** Gaussian fit of raw feature rows; needs at least as many rows as dimensions. */
    public static Gaussian fitFeatures(double[][] rows) {
        int n = rows.length;
        if (n == 0) {
            throw new IllegalArgumentException("no feature vectors to fit");
        }
        int d = rows[0].length;
        if (n < d || n < 2) {
            throw new IllegalArgumentException("a Gaussian fit of " + d + "-dim features needs at least "
                    + Math.max(d, 2) + " vectors, got " + n);
        }
        double[] mu = new double[d];
        for (double[] r : rows) {
            if (r.length != d) {
                throw new IllegalArgumentException("feature vectors differ in length: " + r.length + " vs " + d);
            }
            for (int j = 0; j < d; j++) {
                mu[j] += r[j] / n;
            }
        }
        double[][] cov = new double[d][d];
        for (double[] r : rows) {
            for (int i = 0; i < d; i++) {
                double di = r[i] - mu[i];
                for (int j = 0; j <= i; j++) {
                    cov[i][j] += di * (r[j] - mu[j]);
                }
            }
        }
        for (int i = 0; i < d; i++) {
            for (int j = 0; j <= i; j++) {
                cov[i][j] /= n - 1;
                cov[j][i] = cov[i][j];
            }
        }
        return new Gaussian(mu, cov, n);
    }

    public static double distance(List<Image> generated, List<Image> reference) {
        return distance(fit(generated), fit(reference));
    }

    public static double distance(Gaussian a, Gaussian b) {
        int d = a.mean().length;
        if (b.mean().length != d) {
            throw new IllegalArgumentException("Gaussians differ in dimension: " + d + " vs " + b.mean().length);
        }
        double meanTerm = 0;
        double trace = 0;
        for (int i = 0; i < d; i++) {
            double diff = a.mean()[i] - b.mean()[i];
            meanTerm += diff * diff;
            trace += a.cov()[i][i] + b.cov()[i][i];
        }
        double[][] s1h = SymmetricEigen.sqrtPsd(a.cov());
        double[][] m = multiply(multiply(s1h, b.cov()), s1h);
        for (int i = 0; i < d; i++) { // symmetrise away round-off
            for (int j = 0; j < i; j++) {
                double avg = 0.5 * (m[i][j] + m[j][i]);
                m[i][j] = avg;
                m[j][i] = avg;
            }
        }
        double traceSqrt = 0;
        for (double l : SymmetricEigen.decompose(m).values()) {
            traceSqrt += Math.sqrt(Math.max(0, l));
        }
        return Math.max(0, meanTerm + trace - 2 * traceSqrt);
    }

    /** n dataset images from the world's training distribution, deterministic in the seed. */
    public static List<Image> referenceImages(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<Image> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(ShapesWorld.sampleExample(r).image());
        }
        return out;
    }

    static double[][] multiply(double[][] x, double[][] y) {
        int n = x.length;
        int k = y.length;
        int m = y[0].length;
        double[][] out = new double[n][m];
        for (int i = 0; i < n; i++) {
            for (int l = 0; l < k; l++) {
                double xil = x[i][l];
                if (xil == 0) {
                    continue;
                }
                for (int j = 0; j < m; j++) {
                    out[i][j] += xil * y[l][j];
                }
            }
        }
        return out;
    }
}
