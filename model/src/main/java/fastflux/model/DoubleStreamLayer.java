package fastflux.model;

import ai.djl.ndarray.NDArray;

/**
 * A slot of the double-stream stack: the original {@link DoubleStreamBlock}, or what pruning put in its
 * place. Every slot is {@code Y = X + f(X)}; {@link #residual} is f on its own.
 */
public abstract class DoubleStreamLayer extends Module {
    protected DoubleStreamLayer(String prefix) {
        super(prefix);
    }

    public abstract Streams forward(NDArray img, NDArray txt, NDArray vec, Rope pe);

    /** The residual branch f = Y − X of both streams. */
    public Streams residual(NDArray img, NDArray txt, NDArray vec, Rope pe) {
        Streams y = forward(img, txt, vec, pe);
        return new Streams(y.img().sub(img), y.txt().sub(txt));
    }
}
