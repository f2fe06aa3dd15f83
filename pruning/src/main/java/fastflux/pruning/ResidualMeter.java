package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Collection;
import java.util.Objects;

/**
 * Streams the relative residual ||F − g(X)|| / ||F|| (Frobenius, over all tokens) of a fitted map
 * on held-out activations. Per-batch sums of squares are computed on the device (float64 on CPU,
 * float32 on GPU, as {@link PartialPrecision#AUTO}) and added in double.
 */
public final class ResidualMeter {
    private final AffineMap g;
    private double residualSq;
    private double targetSq;
    private long tokens;

    public ResidualMeter(AffineMap g) {
        this.g = Objects.requireNonNull(g, "g");
    }

    /** x [..., inDim], f [..., outDim] with the same leading dims. */
    public synchronized void accumulate(NDArray x, NDArray f) {
        if (x.getShape().dimension() == 0
                || x.getShape().get(x.getShape().dimension() - 1) != g.inDim()) {
            throw new IllegalArgumentException(
                    "ResidualMeter for " + g + ": x has shape " + x.getShape() + ", expected [..., " + g.inDim() + "]");
        }
        long n = x.getShape().size() / g.inDim();
        if (f.getShape().dimension() == 0
                || f.getShape().get(f.getShape().dimension() - 1) != g.outDim()
                || f.getShape().size() / g.outDim() != n) {
            throw new IllegalArgumentException("ResidualMeter for " + g + ": x " + x.getShape()
                    + " and f " + f.getShape() + " do not hold the same tokens");
        }
        DataType dt = PartialPrecision.AUTO.dataType(x.getDevice());
        try (NDManager scope = x.getManager().newSubManager(x.getDevice())) {
            scope.tempAttachAll(x, f);
            NDArray xs = x.reshape(n, g.inDim()).toType(dt, false); // [N, in]
            NDArray fs = f.reshape(n, g.outDim()).toType(dt, false); // [N, out]
            NDArray r = fs.sub(g.apply(xs, scope)); // [N, out]
            residualSq += r.square().sum().toType(DataType.FLOAT64, false).getDouble();
            targetSq += fs.square().sum().toType(DataType.FLOAT64, false).getDouble();
        }
        tokens += n;
    }

    public synchronized long tokens() {
        return tokens;
    }

    /**
     * The relative residual of several meters' data taken together (the steps of a trajectory, say): their sums
     * added, so each part weighs by its ‖F‖². NaN when none holds data.
     */
    public static double relativeResidual(Collection<ResidualMeter> parts) {
        double r = 0, t = 0;
        long n = 0;
        for (ResidualMeter m : parts) {
            synchronized (m) {
                r += m.residualSq;
                t += m.targetSq;
                n += m.tokens;
            }
        }
        if (n == 0) return Double.NaN;
        if (t == 0) return r == 0 ? 0.0 : Double.POSITIVE_INFINITY;
        return Math.sqrt(r / t);
    }

    /** ‖F‖² per token (summed over the output features): how much the branch carries; NaN before any data. */
    public synchronized double branchEnergy() {
        return tokens == 0 ? Double.NaN : targetSq / tokens;
    }

    /** ||F − g(X)|| / ||F||; NaN before any data, +inf if F is all zero but g is not. */
    public synchronized double relativeResidual() {
        if (tokens == 0) {
            return Double.NaN;
        }
        if (targetSq == 0) {
            return residualSq == 0 ? 0.0 : Double.POSITIVE_INFINITY;
        }
        return Math.sqrt(residualSq / targetSq);
    }
}
