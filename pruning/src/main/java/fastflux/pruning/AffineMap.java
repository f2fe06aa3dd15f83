package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

/**
 * The linear replacement g(X) = X Wᵀ + b of a residual branch, as plain Java data (it travels in
 * messages and checkpoints). {@code weight} is [outDim, inDim] row-major, torch {@code Linear}
 * layout; {@code bias} is [outDim].
 */
public record AffineMap(int inDim, int outDim, float[] weight, float[] bias) {

    public AffineMap {
        if (inDim <= 0 || outDim <= 0) {
            throw new IllegalArgumentException("dims must be positive, got in=" + inDim + " out=" + outDim);
        }
        if (weight.length != (long) inDim * outDim) {
            throw new IllegalArgumentException(
                    "weight has " + weight.length + " values, expected outDim*inDim = " + outDim + "*" + inDim);
        }
        if (bias.length != outDim) {
            throw new IllegalArgumentException("bias has " + bias.length + " values, expected " + outDim);
        }
    }

    /**
     * x [..., inDim] -> x @ Wᵀ + b [..., outDim], in x's data type, on x's device. The result belongs
     * to {@code m}; the weight copies are temporaries of a sub-manager.
     */
    public NDArray apply(NDArray x, NDManager m) {
        if (x.getShape().dimension() == 0 || x.getShape().get(x.getShape().dimension() - 1) != inDim) {
            throw new IllegalArgumentException(
                    "AffineMap expects x [..., " + inDim + "], got " + x.getShape());
        }
        try (NDManager scope = m.newSubManager(x.getDevice())) {
            scope.tempAttachAll(x); // intermediates land in scope; x goes back to its owner on close
            NDArray w = fastflux.model.Tensors.create(scope, weight, new Shape(outDim, inDim)).toType(x.getDataType(), false);
            NDArray b = fastflux.model.Tensors.create(scope, bias, new Shape(outDim)).toType(x.getDataType(), false);
            NDArray y = x.matMul(w.transpose()).add(b); // [..., out]
            y.attach(m);
            return y;
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AffineMap a
                && a.inDim == inDim
                && a.outDim == outDim
                && Arrays.equals(a.weight, weight)
                && Arrays.equals(a.bias, bias);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Integer.hashCode(inDim) + outDim) + Arrays.hashCode(weight) * 17
                + Arrays.hashCode(bias);
    }

    @Override
    public String toString() {
        return "AffineMap[in=" + inDim + ", out=" + outDim + "]";
    }
}
