package fastflux.pruning;

import org.nd4j.linalg.api.blas.BlasException;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Pure float64 math on the normal equations of a least-squares fit with an intercept, held in ND4J.
 *
 * <p>Layout, with z = [x − μ, 1] the shifted input row (d features plus a ones column), summed over
 * n tokens: {@code gram} A = Σ zᵀz [d+1, d+1] = [[G, s], [sᵀ, n]] with G = Σ (x−μ)(x−μ)ᵀ and
 * s = Σ (x−μ); {@code cross} B = Σ zᵀf [d+1, out] = [[C], [t]] with C = Σ (x−μ)fᵀ and t = Σ f.
 */
final class NormalEquations {
    /** Pivots of the regularised matrix below this fraction of its largest diagonal count as zero. */
    static final double PIVOT_FLOOR = 0x1p-52;

    private NormalEquations() {}

    /**
     * Moves accumulators from shift μ to shift ν in place: [x−ν, 1] = [x−μ, 1] S with
     * S = [[I, 0], [δᵀ, 1]], δ = μ − ν, so A ← SᵀAS and B ← SᵀB. Rank-one updates, O(d² + d·out).
     */
    static void reShift(INDArray gram, INDArray cross, double[] delta) {
        int d = (int) gram.rows() - 1;
        boolean zero = true;
        for (double v : delta) {
            zero &= v == 0.0;
        }
        if (zero) {
            return;
        }
        INDArray dl = Nd4j.create(delta, new long[] {d, 1}, DataType.DOUBLE); // [d, 1]
        INDArray g = gram.get(NDArrayIndex.interval(0, d), NDArrayIndex.interval(0, d)); // [d, d] view
        INDArray sCol = gram.get(NDArrayIndex.interval(0, d), NDArrayIndex.point(d)).reshape(d, 1).dup();
        double n = gram.getDouble(d, d);
        // G ← G + s δᵀ + δ sᵀ + n δ δᵀ = G + u δᵀ + δ uᵀ with u = s + (n/2) δ
        INDArray u = sCol.add(dl.mul(n / 2.0)); // [d, 1]
        g.addi(u.mmul(dl.transpose()));
        g.addi(dl.mmul(u.transpose()));
        // s ← s + n δ, in both the last column and the last row
        INDArray sNew = sCol.add(dl.mul(n)); // [d, 1]
        gram.get(NDArrayIndex.interval(0, d), NDArrayIndex.point(d)).assign(sNew.reshape(d));
        gram.get(NDArrayIndex.point(d), NDArrayIndex.interval(0, d)).assign(sNew.reshape(d));
        // C ← C + δ tᵀ
        INDArray t = cross.get(NDArrayIndex.point(d), NDArrayIndex.all()).reshape(1, cross.columns()).dup();
        cross.get(NDArrayIndex.interval(0, d), NDArrayIndex.all()).addi(dl.mmul(t));
    }

    /**
     * Mean over features of Σ (x − x̄)², the scale the relative ridge multiplies. It does not depend on
     * the shift μ (G − s sᵀ/n is the Gram centred at the data mean), so neither does the fit.
     */
    static double ridgeScale(INDArray gram) {
        int d = (int) gram.rows() - 1;
        double n = gram.getDouble(d, d);
        double sum = 0;
        for (int i = 0; i < d; i++) {
            double s = gram.getDouble(i, d);
            sum += gram.getDouble(i, i) - s * s / n;
        }
        double scale = sum / d;
        return scale > 0 ? scale : 1.0; // constant inputs: any positive scale will do
    }

    /**
     * Solves (A + λ·scale·J) Ŵ = B by Cholesky, J = diag(1, …, 1, 0): the intercept row is not
     * regularised, which (with the scale above) makes W independent of the shift. Returns Ŵ
     * [d+1, out]; throws {@link NotPositiveDefiniteException} naming the block otherwise.
     */
    static INDArray solveRidge(String blockName, INDArray gram, INDArray cross, double ridge) {
        int dim = (int) gram.rows();
        int d = dim - 1;
        INDArray a = gram.dup('c');
        double added = ridge * ridgeScale(gram);
        for (int i = 0; i < d; i++) {
            a.putScalar(i, i, a.getDouble(i, i) + added);
        }
        double maxDiag = 0;
        for (int i = 0; i < dim; i++) {
            maxDiag = Math.max(maxDiag, a.getDouble(i, i));
        }
        String advice = " (block '" + blockName + "', " + (long) gram.getDouble(d, d)
                + " tokens, inDim " + d + ", ridge " + ridge
                + "): collect more tokens than inDim or raise the ridge";
        try {
            Nd4j.getBlasWrapper().lapack().potrf(a, true); // LAPACK dpotrf: lower factor L, A = L Lᵀ
        } catch (BlasException e) { // "Failed to execute dpotrf: <info>", info > 0: leading minor not PD
            int info = lapackInfo(e.getMessage());
            if (info > 0) {
                throw new NotPositiveDefiniteException(blockName, "least-squares normal matrix is not positive"
                        + " definite at leading minor " + info + " of " + dim + advice);
            }
            throw e;
        }
        INDArray l = Nd4j.zeros(DataType.DOUBLE, dim, dim); // potrf leaves the upper triangle as it was
        for (int i = 0; i < dim; i++) {
            for (int j = 0; j <= i; j++) {
                l.putScalar(i, j, a.getDouble(i, j));
            }
        }
        double floor = PIVOT_FLOOR * dim * maxDiag;
        for (int i = 0; i < dim; i++) {
            double p = l.getDouble(i, i);
            if (!(p * p > floor)) {
                throw new NotPositiveDefiniteException(blockName,
                        "least-squares normal matrix is numerically singular: Cholesky pivot " + i + " squared is "
                                + (p * p) + " against a largest diagonal of " + maxDiag + advice);
            }
        }
        // L Y = B, then Lᵀ Ŵ = Y, in Java over blocks of right-hand sides in parallel: libnd4j's triangular_solve
        // takes minutes at width 3072 (3073 right-hand sides), this seconds (docs/plan.md, "A real-width pruning run")
        return Nd4j.create(solveCholesky(l.toDoubleMatrix(), cross.toDoubleMatrix()));
    }

    /** Right-hand sides per block of {@link #solveCholesky}: a block's rows stay in cache through both sweeps. */
    private static final int RHS_BLOCK = 256;

    /** Ŵ with L Lᵀ Ŵ = B, for lower-triangular {@code l} [n, n] and {@code b} [n, k]: forward then back substitution. */
    static double[][] solveCholesky(double[][] l, double[][] b) {
        int n = l.length;
        int k = n == 0 ? 0 : b[0].length;
        double[][] w = new double[n][k];
        java.util.stream.IntStream.range(0, (k + RHS_BLOCK - 1) / RHS_BLOCK).parallel().forEach(blk -> {
            int from = blk * RHS_BLOCK;
            int to = Math.min(k, from + RHS_BLOCK);
            int m = to - from;
            double[][] y = new double[n][];
            for (int i = 0; i < n; i++) { // L Y = B
                double[] yi = java.util.Arrays.copyOfRange(b[i], from, to);
                double[] li = l[i];
                for (int j = 0; j < i; j++) {
                    double c = li[j];
                    if (c == 0) continue;
                    double[] yj = y[j];
                    for (int c2 = 0; c2 < m; c2++) yi[c2] -= c * yj[c2];
                }
                double d = li[i];
                for (int c2 = 0; c2 < m; c2++) yi[c2] /= d;
                y[i] = yi;
            }
            for (int i = n - 1; i >= 0; i--) { // Lᵀ Ŵ = Y
                double[] wi = y[i];
                for (int j = i + 1; j < n; j++) {
                    double c = l[j][i];
                    if (c == 0) continue;
                    double[] wj = y[j];
                    for (int c2 = 0; c2 < m; c2++) wi[c2] -= c * wj[c2];
                }
                double d = l[i][i];
                for (int c2 = 0; c2 < m; c2++) wi[c2] /= d;
                System.arraycopy(wi, 0, w[i], from, m);
            }
        });
        return w;
    }

    private static int lapackInfo(String message) {
        if (message == null) {
            return 0;
        }
        String tail = message.substring(message.lastIndexOf(':') + 1).trim();
        try {
            return Integer.parseInt(tail);
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
