package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

class LeastSquaresFitTest {
    private static final Logger log = LoggerFactory.getLogger(LeastSquaresFitTest.class);
    private static NDManager manager;

    @BeforeAll
    static void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void close() {
        manager.close();
    }

    /** A known linear truth: X [tokens, in] (float32 values), F = X Wᵀ + b computed in double. */
    record Truth(int in, int out, double[] w, double[] b, float[] x, double[] f) {
        static Truth random(long seed, int in, int out, int tokens, double offset) {
            Random r = new Random(seed);
            double[] w = new double[out * in];
            double[] b = new double[out];
            for (int i = 0; i < w.length; i++) w[i] = r.nextGaussian() / Math.sqrt(in);
            for (int i = 0; i < out; i++) b[i] = r.nextGaussian();
            float[] x = new float[tokens * in];
            for (int i = 0; i < x.length; i++) x[i] = (float) (offset + r.nextGaussian());
            double[] f = new double[tokens * out];
            for (int t = 0; t < tokens; t++) {
                for (int o = 0; o < out; o++) {
                    double s = b[o];
                    for (int i = 0; i < in; i++) s += (double) x[t * in + i] * w[o * in + i];
                    f[t * out + o] = s;
                }
            }
            return new Truth(in, out, w, b, x, f);
        }

        int tokens() {
            return x.length / in;
        }

        /** Tokens [from, to) as [1, to-from, in] and [1, to-from, out] float32 arrays. */
        NDArray[] batch(NDManager m, int from, int to) {
            float[] xb = new float[(to - from) * in];
            System.arraycopy(x, from * in, xb, 0, xb.length);
            float[] fb = new float[(to - from) * out];
            for (int i = 0; i < fb.length; i++) fb[i] = (float) f[from * out + i];
            return new NDArray[] {
                m.create(xb, new Shape(1, to - from, in)), m.create(fb, new Shape(1, to - from, out))
            };
        }

        void feed(LeastSquaresFit fit, NDManager m, int from, int to, int batch) {
            for (int s = from; s < to; s += batch) {
                try (NDManager step = m.newSubManager()) {
                    NDArray[] xf = batch(step, s, Math.min(to, s + batch));
                    fit.accumulate(xf[0], xf[1]);
                }
            }
        }

        double maxError(AffineMap g) {
            double e = 0;
            for (int i = 0; i < w.length; i++) e = Math.max(e, Math.abs(g.weight()[i] - w[i]));
            for (int i = 0; i < b.length; i++) e = Math.max(e, Math.abs(g.bias()[i] - b[i]));
            return e;
        }
    }

    @Test
    void recoversATrulyLinearMapTo1e6() {
        // offset 3: activations with a mean well away from zero, which centring must absorb
        Truth t = Truth.random(1, 24, 12, 6000, 3.0);
        try (LeastSquaresFit fit = new LeastSquaresFit("double_blocks.3", 24, 12)) {
            t.feed(fit, manager, 0, t.tokens(), 1024);
            assertEquals(6000, fit.tokens());
            double err = t.maxError(fit.solve(0.0));
            log.info("AUTO (float64 partials on CPU): max |error| on W, b = {}", err);
            assertTrue(err <= 1e-6, "max error " + err);
        }
    }

    @Test
    void float32PartialSumsAreGoodTo1e5() {
        // The GPU path. Measured here: 2.0e-7 (offset 0) and 5.8e-7 (offset 3) thanks to centring x;
        // without it 1e-4..1e-2 (table in PartialPrecision). 1e-6 is not reliably reachable in float32.
        for (double offset : new double[] {0.0, 3.0}) {
            Truth t = Truth.random(2, 24, 12, 6000, offset);
            try (LeastSquaresFit fit = new LeastSquaresFit("single_blocks.7", 24, 12, PartialPrecision.FP32)) {
                t.feed(fit, manager, 0, t.tokens(), 1024);
                double err = t.maxError(fit.solve(0.0));
                log.info("FP32 partials, input offset {}: max |error| on W, b = {}", offset, err);
                assertTrue(err <= 1e-5, "max error " + err);
            }
        }
    }

    @Test
    void halfPrecisionInputsAreWidened() {
        Truth t = Truth.random(3, 8, 4, 512, 0.0);
        try (LeastSquaresFit fit = new LeastSquaresFit("b", 8, 4);
                NDManager m = manager.newSubManager()) {
            NDArray[] xf = t.batch(m, 0, 512);
            fit.accumulate(xf[0].toType(ai.djl.ndarray.types.DataType.FLOAT16, false),
                    xf[1].toType(ai.djl.ndarray.types.DataType.FLOAT16, false));
            assertEquals(512, fit.tokens());
            assertTrue(t.maxError(fit.solve(0.0)) < 1e-2); // fp16 inputs: fp16 rounding bounds the fit
        }
    }

    @Test
    void mergingTwoHalvesEqualsOnePass() {
        Truth t = Truth.random(4, 16, 8, 3000, 2.0);
        try (LeastSquaresFit all = new LeastSquaresFit("blk", 16, 8);
                LeastSquaresFit first = new LeastSquaresFit("blk", 16, 8);
                LeastSquaresFit second = new LeastSquaresFit("blk", 16, 8)) {
            t.feed(all, manager, 0, 3000, 500);
            t.feed(first, manager, 0, 1500, 500);
            t.feed(second, manager, 1500, 3000, 500);
            first.merge(second);
            assertEquals(3000, first.tokens());
            assertEquals(1500, second.tokens());
            assertClose(all.gramData(), first.gramData(), 1e-12);
            assertClose(all.crossData(), first.crossData(), 1e-12);
            AffineMap a = all.solve(1e-4);
            AffineMap b = first.solve(1e-4);
            for (int i = 0; i < a.weight().length; i++) {
                assertEquals(a.weight()[i], b.weight()[i], 1e-6);
            }
        }
    }

    @Test
    void mergeIntoAnEmptyFitAndOfAnEmptyFit() {
        Truth t = Truth.random(5, 6, 3, 200, 1.0);
        try (LeastSquaresFit empty = new LeastSquaresFit("e", 6, 3);
                LeastSquaresFit full = new LeastSquaresFit("e", 6, 3);
                LeastSquaresFit none = new LeastSquaresFit("e", 6, 3)) {
            t.feed(full, manager, 0, 200, 64);
            full.merge(none);
            empty.merge(full);
            assertEquals(200, empty.tokens());
            assertClose(full.gramData(), empty.gramData(), 0);
        }
    }

    @Test
    void restoreRoundTrip() {
        Truth t = Truth.random(6, 10, 5, 800, 4.0);
        try (LeastSquaresFit fit = new LeastSquaresFit("double_blocks.0", 10, 5)) {
            t.feed(fit, manager, 0, 800, 300);
            double[] g = fit.gramData();
            double[] c = fit.crossData();
            assertEquals(800.0, g[g.length - 1]);
            assertEquals(g[1 * 11 + 2], g[2 * 11 + 1]); // symmetric
            try (LeastSquaresFit back = LeastSquaresFit.restore("double_blocks.0", 10, 5, 800, g, c)) {
                assertEquals(800, back.tokens());
                assertClose(g, back.gramData(), 1e-12);
                assertClose(c, back.crossData(), 1e-12);
                AffineMap a = fit.solve(0);
                AffineMap b = back.solve(0);
                for (int i = 0; i < a.weight().length; i++) assertEquals(a.weight()[i], b.weight()[i], 1e-7);
                for (int i = 0; i < a.bias().length; i++) assertEquals(a.bias()[i], b.bias()[i], 1e-6);
            }
        }
    }

    @Test
    void notPositiveDefiniteNamesTheBlock() {
        Truth t = Truth.random(7, 32, 4, 8, 0.0); // 8 tokens, 33 unknowns per output
        for (PartialPrecision p : PartialPrecision.values()) {
            try (LeastSquaresFit fit = new LeastSquaresFit("single_blocks.19", 32, 4, p)) {
                t.feed(fit, manager, 0, 8, 8);
                NotPositiveDefiniteException e =
                        assertThrows(NotPositiveDefiniteException.class, () -> fit.solve(0.0));
                assertEquals("single_blocks.19", e.blockName());
                assertTrue(e.getMessage().contains("'single_blocks.19'"), e.getMessage());
                fit.solve(1e-3); // the ridge makes it solvable
            }
        }
    }

    @Test
    void dimensionMismatchesAreClear() {
        try (LeastSquaresFit fit = new LeastSquaresFit("blk.2", 4, 3);
                LeastSquaresFit other = new LeastSquaresFit("blk.5", 4, 2);
                NDManager m = manager.newSubManager()) {
            var e1 = assertThrows(IllegalArgumentException.class,
                    () -> fit.accumulate(m.ones(new Shape(2, 5)), m.ones(new Shape(2, 3))));
            assertTrue(e1.getMessage().contains("blk.2") && e1.getMessage().contains("x has shape"), e1.getMessage());
            var e2 = assertThrows(IllegalArgumentException.class,
                    () -> fit.accumulate(m.ones(new Shape(2, 4)), m.ones(new Shape(3, 3))));
            assertTrue(e2.getMessage().contains("tokens"), e2.getMessage());
            var e3 = assertThrows(IllegalArgumentException.class, () -> fit.merge(other));
            assertTrue(e3.getMessage().contains("blk.2") && e3.getMessage().contains("blk.5"), e3.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> LeastSquaresFit.restore("blk.2", 4, 3, 1, new double[3], new double[15]));
            var e4 = assertThrows(IllegalStateException.class, () -> fit.solve(0));
            assertTrue(e4.getMessage().contains("no tokens"), e4.getMessage());
        }
    }

    @Test
    void choleskySolveMatchesAHandComputedSystem() {
        // gram for tokens x = 0, 1, 2 (d = 1) at shift 0: [[5, 3], [3, 3]]; f = (2x + 1, −x) → W = [2, −1], b = [1, 0]
        INDArray g = Nd4j.create(new double[] {5, 3, 3, 3}, new long[] {2, 2}, DataType.DOUBLE);
        INDArray c = Nd4j.create(new double[] {2 * 5 + 3, -5, 2 * 3 + 3, -3}, new long[] {2, 2}, DataType.DOUBLE);
        INDArray w = NormalEquations.solveRidge("hand", g, c, 0.0);
        assertEquals(2.0, w.getDouble(0, 0), 1e-12);
        assertEquals(-1.0, w.getDouble(0, 1), 1e-12);
        assertEquals(1.0, w.getDouble(1, 0), 1e-12);
        assertEquals(0.0, w.getDouble(1, 1), 1e-12);
    }

    @Test
    void ridgeLeavesTheBiasUnregularised() {
        // d = 1, x = 0, 1, 2, f = 2x + 1: centred scale = Σ(x − 1)² = 2, so λ = 1 adds 2 to G only.
        // At shift 0: (G + 2) w + s b = Σ x f, s w + n b = Σ f → 7w + 3b = 13, 3w + 3b = 9 → w = 1, b = 2
        INDArray g = Nd4j.create(new double[] {5, 3, 3, 3}, new long[] {2, 2}, DataType.DOUBLE);
        INDArray c = Nd4j.create(new double[] {13, 9}, new long[] {2, 1}, DataType.DOUBLE);
        INDArray w = NormalEquations.solveRidge("hand", g, c, 1.0);
        assertEquals(1.0, w.getDouble(0, 0), 1e-12);
        assertEquals(2.0, w.getDouble(1, 0), 1e-12);
    }

    @Test
    void reusedPartialBuffersKeepTheGramSymmetric() {
        // accumulate sums every batch into two partial buffers made with the fit (fresh ND4J arrays per batch are
        // off-heap memory freed only after a GC) and symmetrises the float GEMM's XᵀX on the Java side
        Truth t = Truth.random(5, 128, 128, 64 * 40, 0.5);
        try (LeastSquaresFit fit = new LeastSquaresFit("single_blocks.2", 128, 128)) {
            t.feed(fit, manager, 0, t.tokens(), 64);
            double[] g = fit.gramData();
            int dim = 129;
            double scale = 0;
            for (double v : g) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < dim; i++) { // exact at the fit's shift; gramData's move to shift 0 rounds
                for (int j = 0; j < i; j++) assertEquals(g[i * dim + j], g[j * dim + i], 1e-13 * scale, "gram[" + i + "][" + j + "]");
            }
            assertEquals(64 * 40, fit.tokens());
            double err = t.maxError(fit.solve(0.0));
            assertTrue(err <= 1e-6, "max error " + err);
        }
    }

    @Test
    void nd4jAndDjlShareTheJvm() {
        assertEquals("PyTorch", Engine.getInstance().getEngineName());
        assertTrue(Nd4j.getBackend().getClass().getName().contains("Cpu"), Nd4j.getBackend().getClass().getName());
        try (LeastSquaresFit ignored = new LeastSquaresFit("pin", 1, 1)) {
            // ND4J's pool is sized by OMP_NUM_THREADS at load (it ignores setMaxThreads); the master threads by the pin
            String env = System.getenv("OMP_NUM_THREADS");
            int omp = env == null ? Integer.MAX_VALUE : Integer.parseInt(env.trim());
            if (env != null) assertTrue(Nd4j.getEnvironment().maxThreads() <= omp, "ND4J threads above OMP_NUM_THREADS");
            assertTrue(Nd4j.getEnvironment().maxMasterThreads() <= Math.min(omp, Runtime.getRuntime().availableProcessors()),
                    "ND4J master threads " + Nd4j.getEnvironment().maxMasterThreads());
        }
        try (NDManager m = manager.newSubManager()) {
            NDArray a = m.arange(6f).reshape(2, 3);
            INDArray b = Nd4j.create(a.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).toDoubleArray(),
                    new long[] {2, 3}, DataType.DOUBLE);
            assertEquals(a.sum().getFloat(), b.sumNumber().doubleValue(), 0);
        }
    }

    static void assertClose(double[] expected, double[] actual, double rel) {
        assertEquals(expected.length, actual.length);
        double scale = 0;
        for (double v : expected) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], rel * scale, "entry " + i);
        }
    }
}
