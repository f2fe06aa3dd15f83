package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The least squares' triangular sweeps in Java: the same substitutions, in the same order, as libnd4j's
 * {@code triangular_solve}, which they replace because it takes minutes at FLUX.1's width (docs/plan.md).
 */
class CholeskySolveTest {
    /** A random lower-triangular factor with a dominant positive diagonal, [n, n]. */
    static double[][] factor(int n, Random r) {
        double[][] l = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < i; j++) l[i][j] = r.nextGaussian() * 0.3;
            l[i][i] = 1 + r.nextDouble();
        }
        return l;
    }

    static double[][] matrix(int n, int k, Random r) {
        double[][] b = new double[n][k];
        for (double[] row : b) for (int j = 0; j < k; j++) row[j] = r.nextGaussian();
        return b;
    }

    @Test
    void theJavaSweepsGiveLibnd4jsSolutionBitForBit() {
        Random r = new Random(11);
        int n = 97;
        int k = 300; // more right-hand sides than one block of the Java solve
        double[][] l = factor(n, r);
        double[][] b = matrix(n, k, r);
        INDArray ln = Nd4j.createFromArray(l).castTo(DataType.DOUBLE);
        INDArray y = Nd4j.linalg().triangularSolve(ln, Nd4j.createFromArray(b).castTo(DataType.DOUBLE), true, false);
        double[][] expected = Nd4j.linalg().triangularSolve(ln, y, true, true).toDoubleMatrix();
        double[][] got = NormalEquations.solveCholesky(l, b);
        for (int i = 0; i < n; i++) assertArrayEquals(expected[i], got[i], 0.0, "row " + i);
    }

    @Test
    void itSolvesTheNormalEquations() {
        Random r = new Random(12);
        int n = 40;
        double[][] l = factor(n, r);
        double[][] b = matrix(n, 7, r);
        double[][] w = NormalEquations.solveCholesky(l, b);
        // L Lᵀ W = B
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < 7; c++) {
                double s = 0;
                for (int j = 0; j < n; j++) {
                    double llt = 0;
                    for (int t = 0; t <= Math.min(i, j); t++) llt += l[i][t] * l[j][t];
                    s += llt * w[j][c];
                }
                assertEquals(b[i][c], s, 1e-9, "row " + i + ", column " + c);
            }
        }
    }
}
