package fastflux.world;

/**
 * The Fréchet distance between Gaussian fits of image features, {@code |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1^1/2 S2
 * S1^1/2)^1/2)}: FID's formula over whatever feature map a {@link World} gives (the Shapes world's layout-and-colour
 * map, CLIP image embeddings for FLUX.1).
 */
public final class Frechet {
    private Frechet() {}

    /** A Gaussian fit: mean and unbiased covariance of n feature vectors. */
    public record Gaussian(double[] mean, double[][] cov, int n) {}

    /** Gaussian fit of raw feature rows; needs at least as many rows as dimensions. */
    public static Gaussian fit(double[][] rows) {
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

    private static double[][] multiply(double[][] x, double[][] y) {
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
