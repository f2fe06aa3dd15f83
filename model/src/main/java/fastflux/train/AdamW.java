package fastflux.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import fastflux.model.Param;
import fastflux.model.Tensors;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * AdamW (decoupled weight decay) over named parameters, with global-norm gradient clipping. Moments live in
 * the optimiser's own manager and can be saved and restored exactly (checkpoint/resume).
 */
public final class AdamW implements AutoCloseable {
    private final NDManager manager;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final Map<String, NDArray> m = new LinkedHashMap<>();
    private final Map<String, NDArray> v = new LinkedHashMap<>();
    private long steps;

    public AdamW(NDManager parent, double beta1, double beta2, double eps, double weightDecay) {
        this.manager = parent.newSubManager();
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
    }

    public long steps() {
        return steps;
    }

    public Map<String, NDArray> firstMoments() {
        return m;
    }

    public Map<String, NDArray> secondMoments() {
        return v;
    }

    /** Restores the step count and moments (copied into the optimiser's manager). */
    public void restore(long steps, Map<String, NDArray> first, Map<String, NDArray> second) {
        this.steps = steps;
        first.forEach((k, a) -> replace(m, k, a));
        second.forEach((k, a) -> replace(v, k, a));
    }

    private void replace(Map<String, NDArray> into, String k, NDArray a) {
        NDArray c = a.duplicate();
        c.attach(manager);
        NDArray old = into.put(k, c);
        if (old != null) old.close();
    }

    /** Global L2 norm of the gradients of {@code params}. */
    public static double gradNorm(List<Param> params) {
        double sq = 0;
        for (Param p : params) {
            NDArray w = p.value();
            try (NDManager scope = w.getManager().newSubManager()) {
                NDArray g = w.getGradient();
                g.attach(scope);
                sq += g.square().sum().getFloat();
            }
        }
        return Math.sqrt(sq);
    }

    /** Sets every gradient to zero (after a skipped update). */
    public static void zeroGradients(List<Param> params) {
        for (Param p : params) {
            NDArray w = p.value();
            try (NDManager scope = w.getManager().newSubManager()) {
                NDArray g = w.getGradient();
                g.attach(scope);
                g.set(new ai.djl.ndarray.index.NDIndex("..."), 0f); // also clears NaN and inf entries
            }
        }
    }

    /**
     * One update of every parameter from its gradient, scaled down first so the global norm is at most
     * {@code clip} (no clipping when clip ≤ 0); gradients are zeroed afterwards. Returns the pre-clip norm.
     */
    public double step(List<Param> params, double lr, double clip) {
        return step(params, p -> lr, clip);
    }

    /** As {@link #step(List, double, double)}, each parameter at its own learning rate (parameter groups). */
    public double step(List<Param> params, ToDoubleFunction<Param> lrOf, double clip) {
        double norm = gradNorm(params);
        double scale = clip > 0 && norm > clip ? clip / norm : 1.0;
        steps++;
        double bc1 = 1 - Math.pow(beta1, steps);
        double bc2 = 1 - Math.pow(beta2, steps);
        for (Param p : params) {
            NDArray w = p.value();
            double lr = lrOf.applyAsDouble(p);
            NDArray mi = m.computeIfAbsent(p.name(), k -> manager.zeros(w.getShape(), w.getDataType()));
            NDArray vi = v.computeIfAbsent(p.name(), k -> manager.zeros(w.getShape(), w.getDataType()));
            try (NDManager scope = manager.newSubManager()) {
                NDArray g0 = w.getGradient();
                g0.attach(scope);
                mi.tempAttach(scope);
                vi.tempAttach(scope);
                w.tempAttach(scope);
                NDArray g = scale == 1.0 ? g0 : Tensors.mul(g0, (float) scale);
                Tensors.muli(mi, (float) beta1).addi(Tensors.mul(g, (float) (1 - beta1)));
                Tensors.muli(vi, (float) beta2).addi(Tensors.mul(g.square(), (float) (1 - beta2)));
                NDArray update = Tensors.div(mi, (float) bc1).div(Tensors.add(Tensors.div(vi, (float) bc2).sqrt(), (float) eps));
                if (weightDecay > 0) Tensors.muli(w, (float) (1 - lr * weightDecay));
                w.subi(Tensors.mul(update, (float) lr));
                g0.subi(g0); // zero the gradient for the next step
            }
        }
        return norm;
    }

    @Override
    public void close() {
        manager.close();
    }
}
