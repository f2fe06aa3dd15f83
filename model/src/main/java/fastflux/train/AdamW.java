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
 *
 * <p>A parameter held in fp16 can be given an fp32 master copy ({@link #keepMaster}): its gradient is cast to fp32,
 * the moments and the update are fp32 and applied to the master, and the fp16 value is refreshed from the master
 * after each step, so that updates below fp16's resolution accumulate instead of rounding away.
 */
public final class AdamW implements AutoCloseable {
    private final NDManager manager;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final Map<String, NDArray> m = new LinkedHashMap<>();
    private final Map<String, NDArray> v = new LinkedHashMap<>();
    private final Map<String, NDArray> masters = new LinkedHashMap<>();
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

    /**
     * Keeps an fp32 master copy of {@code p} (taken from its current value) in the optimiser's manager, if {@code p}
     * is not fp32 already; the optimiser updates the master and writes it back, rounded, into {@code p}'s value.
     */
    public void keepMaster(Param p) {
        NDArray w = p.value();
        if (w.getDataType() == ai.djl.ndarray.types.DataType.FLOAT32 || masters.containsKey(p.name())) return;
        NDArray master = w.toType(ai.djl.ndarray.types.DataType.FLOAT32, true);
        master.attach(manager);
        masters.put(p.name(), master);
    }

    /** The fp32 master copies by parameter name ({@link #keepMaster}); empty when every parameter is fp32. */
    public Map<String, NDArray> masters() {
        return java.util.Collections.unmodifiableMap(masters);
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
                NDArray g32 = g.getDataType() == ai.djl.ndarray.types.DataType.FLOAT32 ? g : g.toType(ai.djl.ndarray.types.DataType.FLOAT32, false);
                sq += g32.square().sum().getFloat();
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
        // The update is in place on leaves that require gradients: autograd must not record it, whatever grad mode
        // the calling thread was left in (a GradientCollector restores the mode it found, which is on for a new thread).
        boolean recording = ai.djl.pytorch.jni.JniUtils.isGradMode();
        if (recording) ai.djl.pytorch.jni.JniUtils.setGradMode(false);
        try {
            return update(params, lrOf, clip);
        } finally {
            if (recording) ai.djl.pytorch.jni.JniUtils.setGradMode(true);
        }
    }

    private double update(List<Param> params, ToDoubleFunction<Param> lrOf, double clip) {
        double norm = gradNorm(params);
        double scale = clip > 0 && norm > clip ? clip / norm : 1.0;
        steps++;
        double bc1 = 1 - Math.pow(beta1, steps);
        double bc2 = 1 - Math.pow(beta2, steps);
        for (Param p : params) {
            NDArray working = p.value();
            NDArray master = masters.get(p.name());
            NDArray w = master == null ? working : master; // the array the update is applied to
            double lr = lrOf.applyAsDouble(p);
            NDArray mi = m.computeIfAbsent(p.name(), k -> manager.zeros(w.getShape(), w.getDataType()));
            NDArray vi = v.computeIfAbsent(p.name(), k -> manager.zeros(w.getShape(), w.getDataType()));
            try (NDManager scope = manager.newSubManager()) {
                NDArray g0 = working.getGradient();
                g0.attach(scope);
                mi.tempAttach(scope);
                vi.tempAttach(scope);
                w.tempAttach(scope);
                if (master != null) working.tempAttach(scope);
                NDArray g32 = master == null ? g0 : g0.toType(w.getDataType(), false);
                NDArray g = scale == 1.0 ? g32 : Tensors.mul(g32, (float) scale);
                Tensors.muli(mi, (float) beta1).addi(Tensors.mul(g, (float) (1 - beta1)));
                Tensors.muli(vi, (float) beta2).addi(Tensors.mul(g.square(), (float) (1 - beta2)));
                NDArray update = Tensors.div(mi, (float) bc1).div(Tensors.add(Tensors.div(vi, (float) bc2).sqrt(), (float) eps));
                if (weightDecay > 0) Tensors.muli(w, (float) (1 - lr * weightDecay));
                w.subi(Tensors.mul(update, (float) lr));
                if (master != null) working.set(new ai.djl.ndarray.index.NDIndex("..."), master.toType(working.getDataType(), false));
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
