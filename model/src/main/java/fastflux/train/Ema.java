package fastflux.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import fastflux.model.Param;
import fastflux.model.Tensors;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Exponential moving average of the weights, the model that is shipped: {@code e = d·e + (1 − d)·w}. */
public final class Ema implements AutoCloseable {
    private final NDManager manager;
    private final Map<String, NDArray> shadow = new LinkedHashMap<>();

    public Ema(NDManager parent, List<Param> params) {
        manager = parent.newSubManager();
        for (Param p : params) {
            NDArray c = p.value().duplicate();
            c.attach(manager);
            shadow.put(p.name(), c);
        }
    }

    public Map<String, NDArray> weights() {
        return shadow;
    }

    /** Warm-started decay: min(decay, (1 + step) / (10 + step)), so early averages are not dominated by init. */
    public static double decayAt(double decay, long step) {
        return Math.min(decay, (1.0 + step) / (10.0 + step));
    }

    public void update(List<Param> params, double d) {
        for (Param p : params) {
            NDArray e = shadow.get(p.name());
            try (NDManager scope = manager.newSubManager()) {
                NDArray w = p.value();
                w.tempAttach(scope);
                e.tempAttach(scope);
                Tensors.muli(e, (float) d).addi(Tensors.mul(w, (float) (1 - d)));
            }
        }
    }

    public void set(String name, NDArray value) {
        NDArray c = value.duplicate();
        c.attach(manager);
        NDArray old = shadow.put(name, c);
        if (old != null) old.close();
    }

    @Override
    public void close() {
        manager.close();
    }
}
