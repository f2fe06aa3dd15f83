package fastflux.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import fastflux.model.Tensors;

/** The reference's denoising loop: {@code x += (t_prev − t_curr) · v(x, t_curr)} over a schedule. */
public final class EulerSampler {
    private EulerSampler() {}

    /** The model's velocity at (x, t); t is one scalar for the whole batch. */
    @FunctionalInterface
    public interface Velocity {
        /**
         * @param scope the step's manager: the implementation temp-attaches its other inputs to it, so that
         *     every intermediate lands there and is freed when the step ends
         */
        NDArray at(NDArray x, float t, NDManager scope);
    }

    /** Sees the latent after each step (index from 0); it is valid only during the call. */
    @FunctionalInterface
    public interface StepListener {
        void afterStep(int step, NDArray x);
    }

    /**
     * Runs the loop. Each step's intermediates live in a sub-manager that is closed after the step; the
     * returned latent is attached to {@code x}'s manager.
     */
    // x [B, L, C] -> [B, L, C]
    public static NDArray sample(NDArray x, float[] schedule, Velocity v, StepListener listener) {
        NDManager owner = x.getManager();
        NDArray cur = x;
        for (int i = 0; i + 1 < schedule.length; i++) {
            float tCurr = schedule[i], tPrev = schedule[i + 1];
            NDArray next;
            try (NDManager step = owner.newSubManager()) {
                cur.tempAttach(step);
                next = cur.add(Tensors.mul(v.at(cur, tCurr, step), tPrev - tCurr));
                next.attach(owner);
            }
            if (cur != x) cur.close();
            cur = next;
            if (listener != null) listener.afterStep(i, cur);
        }
        return cur;
    }
}
