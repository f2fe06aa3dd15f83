package fastflux.model;

import ai.djl.ndarray.NDArray;

/**
 * A slot of the single-stream stack over the joint sequence (text tokens first): the original
 * {@link SingleStreamBlock} or what pruning put in its place. {@code Y = X + f(X)}.
 */
public abstract class SingleStreamLayer extends Module {
    protected SingleStreamLayer(String prefix) {
        super(prefix);
    }

    /** The residual branch f(X) on its own. */
    public abstract NDArray residual(NDArray x, NDArray vec, Rope pe);

    public NDArray forward(NDArray x, NDArray vec, Rope pe) {
        return Nn.addResidual(x, residual(x, vec, pe));
    }
}
