package fastflux.pruning;

import ai.djl.ndarray.NDManager;
import fastflux.model.FluxParams;
import fastflux.shapes.ShapesModel;
import java.util.Random;

/** A tiny random-weight Shapes model (1 double, 2 single blocks, hidden 32) for CPU tests. */
public final class TinyShapes {
    public static final FluxParams PARAMS =
            new FluxParams(48, 48, 64, 64, 32, 2.0, 2, 1, 2, new int[] {4, 6, 6}, 10000, true, false);

    private TinyShapes() {}

    public static ShapesModel model(NDManager m, long seed) {
        return model(PARAMS, m, seed);
    }

    public static ShapesModel model(FluxParams params, NDManager m, long seed) {
        return ShapesModel.random(params, m, seed);
    }

    public static float[] gaussian(int n, double scale, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (scale * r.nextGaussian());
        return v;
    }
}
