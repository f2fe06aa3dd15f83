package fastflux.streams;

import ai.djl.ndarray.NDManager;
import fastflux.model.FluxParams;
import fastflux.shapes.ShapesModel;

/** A tiny random-weight Shapes model (2 double, 3 single blocks, hidden 32) for CPU tests. */
final class TinyShapes {
    static final FluxParams PARAMS =
            new FluxParams(48, 48, 64, 64, 32, 2.0, 2, 2, 3, new int[] {4, 6, 6}, 10000, true, false);

    private TinyShapes() {}

    static ShapesModel model(NDManager m, long seed) {
        return ShapesModel.random(PARAMS, m, seed);
    }
}
