package fastflux.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Tensors;
import java.util.Random;

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
     * Seeded Gaussian latents [B, tokens, channels], the starting point of every sampler run here (generation,
     * evaluation, calibration): image i's noise is {@code java.util.Random(seeds[i]).nextGaussian()} in order, so it
     * depends on its seed alone, whatever the batch.
     */
    public static NDArray noise(long[] seeds, int tokens, int channels, NDManager m) {
        int per = tokens * channels;
        float[] v = new float[seeds.length * per];
        for (int i = 0; i < seeds.length; i++) {
            Random r = new Random(seeds[i]);
            for (int j = 0; j < per; j++) v[i * per + j] = (float) r.nextGaussian();
        }
        return Tensors.create(m, v, new Shape(seeds.length, tokens, channels));
    }

    /**
     * Classifier-free guidance of a velocity computed on both halves in one batch, conditional rows first:
     * {@code v(∅) + (v(c) − v(∅))·g}.
     */
    // v [2B, L, C] -> [B, L, C]
    public static NDArray guided(NDArray v, float guidance) {
        NDList halves = v.split(2, 0);
        return halves.get(1).add(Tensors.mul(halves.get(0).sub(halves.get(1)), guidance));
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
