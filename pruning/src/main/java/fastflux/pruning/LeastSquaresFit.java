package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.Objects;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * BRLL (paper §3.1): the streamed least-squares fit of a block's residual branch. A block is
 * Y = X + f(X); f is replaced by the per-token affine map g(X) = X W + b minimising ||F − g(X)||²,
 * F = Y − X, over every token seen while the model runs.
 *
 * <p>With X̃ = [X − μ, 1] this accumulates A = X̃ᵀX̃ [d+1, d+1] and B = X̃ᵀF [d+1, out]. Each batch's
 * partial sums are GEMMs in DJL on the activations' device ({@link PartialPrecision}); they are
 * added into float64 master accumulators in ND4J. μ is a fixed reference shift, the first batch's
 * mean rounded to float32: subtracting it before the products keeps a large mean (real activations
 * have them) from swamping the float32 partial sums, and costs nothing in exactness, since the
 * accumulators move between shifts in float64 ({@link #gramData()} reports them at μ = 0).
 *
 * <p>{@link #solve(double)} solves (A + λ·s·J) Ŵ = B by Cholesky, where λ is the relative ridge,
 * s the mean per-feature sum of squared deviations Σ(x − x̄)², and J = diag(1, …, 1, 0): the bias
 * is not regularised, as usual for an intercept, so the fit does not depend on μ.
 *
 * <p>Not thread-safe against {@link #close()}, otherwise methods are synchronised.
 */
public final class LeastSquaresFit implements AutoCloseable {
    public static final double DEFAULT_RIDGE = 1e-4;

    private final String blockName;
    private final int inDim;
    private final int outDim;
    private final PartialPrecision precision;
    private INDArray gram; // [inDim+1, inDim+1] float64, at shift μ
    private INDArray cross; // [inDim+1, outDim] float64, at shift μ
    private final INDArray partialGram; // one batch's X̃ᵀX̃, reused by every accumulate
    private final INDArray partialCross; // one batch's X̃ᵀF, reused by every accumulate
    private float[] shift; // μ [inDim]; null until the first token
    private long tokens;
    private boolean closed;

    public LeastSquaresFit(String blockName, int inDim, int outDim) {
        this(blockName, inDim, outDim, PartialPrecision.AUTO);
    }

    public LeastSquaresFit(String blockName, int inDim, int outDim, PartialPrecision precision) {
        this.blockName = Objects.requireNonNull(blockName, "blockName");
        if (inDim <= 0 || outDim <= 0) {
            throw new IllegalArgumentException(
                    "block '" + blockName + "': dims must be positive, got in=" + inDim + " out=" + outDim);
        }
        this.inDim = inDim;
        this.outDim = outDim;
        this.precision = Objects.requireNonNull(precision, "precision");
        Nd4jRuntime.pin();
        this.gram = Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.DOUBLE, inDim + 1, inDim + 1);
        this.cross = Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.DOUBLE, inDim + 1, outDim);
        this.partialGram = Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.DOUBLE, inDim + 1, inDim + 1);
        this.partialCross = Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.DOUBLE, inDim + 1, outDim);
    }

    /**
     * Rebuilds a fit from checkpointed accumulators, given at shift 0: gram = Σ [x,1]ᵀ[x,1] and
     * cross = Σ [x,1]ᵀf, row-major. Restored data is re-centred at its own mean.
     */
    public static LeastSquaresFit restore(
            String blockName, int inDim, int outDim, long tokens, double[] gram, double[] cross) {
        LeastSquaresFit fit = new LeastSquaresFit(blockName, inDim, outDim);
        int dim = inDim + 1;
        if (gram.length != (long) dim * dim || cross.length != (long) dim * outDim) {
            fit.close();
            throw new IllegalArgumentException("block '" + blockName + "': restore expects gram of "
                    + dim + "x" + dim + " and cross of " + dim + "x" + outDim + " values, got "
                    + gram.length + " and " + cross.length);
        }
        if (tokens < 0 || (tokens > 0 && gram[dim * dim - 1] != tokens)) {
            fit.close();
            throw new IllegalArgumentException("block '" + blockName + "': restore got tokens=" + tokens
                    + " but the gram's ones-column count is " + gram[dim * dim - 1]);
        }
        if (tokens == 0) {
            return fit;
        }
        var dt = org.nd4j.linalg.api.buffer.DataType.DOUBLE;
        fit.gram.assign(Nd4j.create(gram, new long[] {dim, dim}, dt));
        fit.cross.assign(Nd4j.create(cross, new long[] {dim, outDim}, dt));
        fit.tokens = tokens;
        fit.shift = new float[inDim];
        double[] delta = new double[inDim]; // 0 − μ
        for (int i = 0; i < inDim; i++) {
            fit.shift[i] = (float) (gram[i * dim + inDim] / tokens);
            delta[i] = -(double) fit.shift[i];
        }
        NormalEquations.reShift(fit.gram, fit.cross, delta);
        return fit;
    }

    public String blockName() {
        return blockName;
    }

    public int inDim() {
        return inDim;
    }

    public int outDim() {
        return outDim;
    }

    /**
     * Adds a batch: x [..., inDim], f [..., outDim] = Y − X, same leading dims (flattened to tokens),
     * same device; fp32 or fp16 (fp16 is widened first). Temporaries are freed before returning.
     */
    public synchronized void accumulate(NDArray x, NDArray f) {
        checkOpen();
        long n = tokensOf(x, inDim, "x");
        long nf = tokensOf(f, outDim, "f");
        if (n != nf) {
            throw new IllegalArgumentException("block '" + blockName + "': x " + x.getShape() + " holds "
                    + n + " tokens but f " + f.getShape() + " holds " + nf);
        }
        if (!x.getDevice().equals(f.getDevice())) {
            throw new IllegalArgumentException("block '" + blockName + "': x is on " + x.getDevice()
                    + " but f is on " + f.getDevice());
        }
        if (n == 0) {
            return;
        }
        DataType dt = precision.dataType(x.getDevice());
        double[] g;
        double[] c;
        try (NDManager scope = x.getManager().newSubManager(x.getDevice())) {
            scope.tempAttachAll(x, f);
            NDArray xs = x.reshape(n, inDim).toType(dt, false); // [N, d]
            NDArray fs = f.reshape(n, outDim).toType(dt, false); // [N, out]
            if (shift == null) {
                float[] mean = xs.mean(new int[] {0}).toType(DataType.FLOAT32, false).toFloatArray();
                shift = mean;
            }
            NDArray mu = fastflux.model.Tensors.create(scope, shift, new Shape(1, inDim)).toType(dt, false); // [1, d]
            NDArray xt = xs.sub(mu).concat(scope.ones(new Shape(n, 1), dt), 1); // [N, d+1]
            NDArray xtT = xt.transpose(); // [d+1, N]
            g = xtT.matMul(xt).toType(DataType.FLOAT64, false).toDoubleArray(); // [d+1, d+1]
            c = xtT.matMul(fs).toType(DataType.FLOAT64, false).toDoubleArray(); // [d+1, out]
        }
        int dim = inDim + 1;
        // a float32 GEMM need not give an exactly symmetric XᵀX; keep the master symmetric: (G + Gᵀ)·0.5
        for (int i = 0; i < dim; i++) {
            for (int j = i + 1; j < dim; j++) {
                double v = (g[i * dim + j] + g[j * dim + i]) * 0.5;
                g[i * dim + j] = v;
                g[j * dim + i] = v;
            }
        }
        // Into the fixed partial buffers, not fresh ND4J arrays: those are off-heap and only freed after a GC,
        // so one per batch held native memory in proportion to the batches run since the last collection.
        partialGram.data().setData(g);
        partialCross.data().setData(c);
        gram.addi(partialGram);
        cross.addi(partialCross);
        tokens += n;
    }

    /** Adds other's accumulators into this fit (other is unchanged). */
    public synchronized void merge(LeastSquaresFit other) {
        checkOpen();
        if (other == this) {
            throw new IllegalArgumentException("block '" + blockName + "': cannot merge a fit into itself");
        }
        if (other.inDim != inDim || other.outDim != outDim) {
            throw new IllegalArgumentException("cannot merge fit of block '" + other.blockName + "' ["
                    + other.inDim + " -> " + other.outDim + "] into block '" + blockName + "' ["
                    + inDim + " -> " + outDim + "]: dimensions differ");
        }
        INDArray og;
        INDArray oc;
        float[] oshift;
        long on;
        synchronized (other) {
            other.checkOpen();
            if (other.tokens == 0) {
                return;
            }
            og = other.gram.dup();
            oc = other.cross.dup();
            oshift = other.shift;
            on = other.tokens;
        }
        if (shift == null) {
            shift = oshift.clone();
        }
        double[] delta = new double[inDim]; // μ_other − μ_this
        for (int i = 0; i < inDim; i++) {
            delta[i] = (double) oshift[i] - (double) shift[i];
        }
        NormalEquations.reShift(og, oc, delta);
        gram.addi(og);
        cross.addi(oc);
        tokens += on;
    }

    public synchronized long tokens() {
        return tokens;
    }

    /** Fits g with relative ridge λ ≥ 0 (see the class comment); throws if the system is not PD. */
    public synchronized AffineMap solve(double ridge) {
        checkOpen();
        if (!(ridge >= 0) || Double.isInfinite(ridge)) {
            throw new IllegalArgumentException("block '" + blockName + "': ridge must be >= 0, got " + ridge);
        }
        if (tokens == 0) {
            throw new IllegalStateException("block '" + blockName + "': no tokens accumulated, nothing to solve");
        }
        INDArray w = NormalEquations.solveRidge(blockName, gram, cross, ridge); // [d+1, out], centred
        float[] weight = new float[inDim * outDim];
        float[] bias = new float[outDim];
        for (int o = 0; o < outDim; o++) {
            double b = w.getDouble(inDim, o); // g(x) = (x − μ) W + b_c = x W + (b_c − μ W)
            for (int i = 0; i < inDim; i++) {
                double wio = w.getDouble(i, o);
                weight[o * inDim + i] = (float) wio;
                b -= shift[i] * wio;
            }
            bias[o] = (float) b;
        }
        return new AffineMap(inDim, outDim, weight, bias);
    }

    /**
     * The accumulators exactly as held: at the shift μ, with μ and the token count. Loading it into a fresh fit
     * ({@link #load}) and folding the same later batches gives the same sums bit for bit, which the shift-0 form of
     * {@link #gramData()} (re-shifted in float64) does not: an in-phase checkpoint saves this.
     *
     * @param shift μ, or null before the first token
     * @param gram A at μ, [inDim+1, inDim+1] row-major
     * @param cross B at μ, [inDim+1, outDim] row-major
     */
    public record Snapshot(long tokens, float[] shift, double[] gram, double[] cross) {}

    public synchronized Snapshot snapshot() {
        checkOpen();
        return new Snapshot(tokens, shift == null ? null : shift.clone(), gram.dup('c').data().asDouble(),
                cross.dup('c').data().asDouble());
    }

    /** Replaces this fit's accumulators by {@code s} (a {@link #snapshot} of a fit of the same dimensions). */
    public synchronized void load(Snapshot s) {
        checkOpen();
        int dim = inDim + 1;
        if (s.gram().length != (long) dim * dim || s.cross().length != (long) dim * outDim
                || (s.shift() != null && s.shift().length != inDim) || (s.shift() == null) != (s.tokens() == 0)) {
            throw new IllegalArgumentException("block '" + blockName + "': a snapshot of " + s.gram().length + " gram, "
                    + s.cross().length + " cross values, " + s.tokens() + " tokens and a shift of "
                    + (s.shift() == null ? "none" : s.shift().length + " values") + " does not fit " + inDim + " -> " + outDim);
        }
        var dt = org.nd4j.linalg.api.buffer.DataType.DOUBLE;
        gram.assign(Nd4j.create(s.gram(), new long[] {dim, dim}, dt));
        cross.assign(Nd4j.create(s.cross(), new long[] {dim, outDim}, dt));
        shift = s.shift() == null ? null : s.shift().clone();
        tokens = s.tokens();
    }

    /** Σ [x,1]ᵀ[x,1] at shift 0, [inDim+1, inDim+1] row-major, for checkpoints. */
    public synchronized double[] gramData() {
        checkOpen();
        return atZeroShift()[0].data().asDouble();
    }

    /** Σ [x,1]ᵀf at shift 0, [inDim+1, outDim] row-major, for checkpoints. */
    public synchronized double[] crossData() {
        checkOpen();
        return atZeroShift()[1].data().asDouble();
    }

    private INDArray[] atZeroShift() {
        INDArray g = gram.dup('c');
        INDArray c = cross.dup('c');
        if (shift != null) {
            double[] delta = new double[inDim];
            for (int i = 0; i < inDim; i++) {
                delta[i] = shift[i];
            }
            NormalEquations.reShift(g, c, delta);
        }
        return new INDArray[] {g, c};
    }

    private long tokensOf(NDArray a, int dim, String name) {
        Shape s = a.getShape();
        if (s.dimension() == 0 || s.get(s.dimension() - 1) != dim) {
            throw new IllegalArgumentException("block '" + blockName + "': " + name + " has shape " + s
                    + ", expected [..., " + dim + "]");
        }
        DataType t = a.getDataType();
        if (t != DataType.FLOAT32 && t != DataType.FLOAT16 && t != DataType.FLOAT64) {
            throw new IllegalArgumentException("block '" + blockName + "': " + name + " is " + t
                    + ", expected float32 or float16");
        }
        return s.size() / dim;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("block '" + blockName + "': fit is closed");
        }
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            gram.close();
            cross.close();
            partialGram.close();
            partialCross.close();
        }
    }

    @Override
    public String toString() {
        return "LeastSquaresFit[" + blockName + ", " + inDim + " -> " + outDim + ", tokens=" + tokens
                + (shift == null ? "" : ", shift[0..]=" + Arrays.toString(Arrays.copyOf(shift, Math.min(3, inDim))))
                + "]";
    }
}
