package fastflux.pruning;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.Param;
import fastflux.model.Tensors;
import fastflux.shapes.ShapesModel;
import fastflux.shapes.TextEncoder;
import java.util.Random;

/** A tiny random-weight Shapes model (1 double, 2 single blocks, hidden 32) for CPU tests. */
final class TinyShapes {
    static final FluxParams PARAMS =
            new FluxParams(48, 48, 64, 64, 32, 2.0, 2, 1, 2, new int[] {4, 6, 6}, 10000, true, false);

    private TinyShapes() {}

    static ShapesModel model(NDManager m, long seed) {
        return model(PARAMS, m, seed);
    }

    static ShapesModel model(FluxParams params, NDManager m, long seed) {
        FluxModel flux = new FluxModel(params);
        flux.initRandom(m, DataType.FLOAT32, seed);
        TextEncoder text = new TextEncoder(PARAMS.contextInDim());
        Random r = new Random(seed + 1);
        for (Param p : text.params().values()) {
            float[] v = new float[(int) p.shape().size()];
            for (int i = 0; i < v.length; i++) v[i] = (float) (0.5 * r.nextGaussian());
            p.set(Tensors.create(m, v, p.shape()));
        }
        return new ShapesModel(flux, text);
    }

    static float[] gaussian(int n, double scale, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (scale * r.nextGaussian());
        return v;
    }
}
