package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.SplittableRandom;

/**
 * One transformer call's inputs, as the reference's {@code Flux.forward}: packed latents img [B, L_img, in],
 * img_ids [B, L_img, 3], txt [B, L_txt, context], txt_ids [B, L_txt, 3], timesteps [B], pooled y [B, vec_in]
 * and guidance [B] (ignored unless the config embeds guidance; may be null then).
 */
public record FluxInputs(NDArray img, NDArray imgIds, NDArray txt, NDArray txtIds, NDArray timesteps, NDArray y,
                         NDArray guidance) {
    /**
     * Seeded synthetic inputs of the given shapes: standard-normal latents, text and pooled vector, image ids
     * on a row-major grid {@code (0, i / w, i % w)} with {@code w = ceil(sqrt(L_img))}, text ids zero, timestep
     * 0.5 and guidance 4 (when the config embeds it). For benchmarks and shape tests.
     */
    public static FluxInputs random(FluxParams p, NDManager m, int batch, int imgTokens, int txtTokens,
                                    long seed) {
        SplittableRandom rnd = new java.util.SplittableRandom(seed);
        int w = (int) Math.ceil(Math.sqrt(imgTokens));
        float[] ids = new float[batch * imgTokens * 3];
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < imgTokens; i++) {
                int o = (b * imgTokens + i) * 3;
                ids[o + 1] = i / w;
                ids[o + 2] = i % w;
            }
        }
        Shape bShape = new Shape(batch);
        return new FluxInputs(
                Tensors.create(m, normal(rnd, batch * imgTokens * p.inChannels()), new Shape(batch, imgTokens, p.inChannels())),
                Tensors.create(m, ids, new Shape(batch, imgTokens, 3)),
                Tensors.create(m, normal(rnd, batch * txtTokens * p.contextInDim()), new Shape(batch, txtTokens, p.contextInDim())),
                m.zeros(new Shape(batch, txtTokens, 3)),
                m.full(bShape, 0.5f),
                Tensors.create(m, normal(rnd, batch * p.vecInDim()), new Shape(batch, p.vecInDim())),
                p.guidanceEmbed() ? m.full(bShape, 4f) : null);
    }

    private static float[] normal(SplittableRandom rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i += 2) { // Box-Muller, two values per draw
            double r = Math.sqrt(-2 * Math.log(1 - rnd.nextDouble())), a = 2 * Math.PI * rnd.nextDouble();
            v[i] = (float) (r * Math.cos(a));
            if (i + 1 < n) v[i + 1] = (float) (r * Math.sin(a));
        }
        return v;
    }

    public FluxInputs withImg(NDArray newImg, NDArray newTimesteps) {
        return new FluxInputs(newImg, imgIds, txt, txtIds, newTimesteps, y, guidance);
    }

    /** Temp-attaches every input to {@code scope}: ops on them then allocate there, and they return on close. */
    public FluxInputs tempAttach(NDManager scope) {
        for (NDArray a : new NDArray[] {img, imgIds, txt, txtIds, timesteps, y, guidance}) {
            if (a != null) a.tempAttach(scope);
        }
        return this;
    }
}
