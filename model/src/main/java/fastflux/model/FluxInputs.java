package fastflux.model;

import ai.djl.ndarray.NDArray;

/**
 * One transformer call's inputs, as the reference's {@code Flux.forward}: packed latents img [B, L_img, in],
 * img_ids [B, L_img, 3], txt [B, L_txt, context], txt_ids [B, L_txt, 3], timesteps [B], pooled y [B, vec_in]
 * and guidance [B] (ignored unless the config embeds guidance; may be null then).
 */
public record FluxInputs(NDArray img, NDArray imgIds, NDArray txt, NDArray txtIds, NDArray timesteps, NDArray y,
                         NDArray guidance) {
    public FluxInputs withImg(NDArray newImg, NDArray newTimesteps) {
        return new FluxInputs(newImg, imgIds, txt, txtIds, newTimesteps, y, guidance);
    }

    /** Temp-attaches every input to {@code scope}: ops on them then allocate there, and they return on close. */
    public FluxInputs tempAttach(ai.djl.ndarray.NDManager scope) {
        for (NDArray a : new NDArray[] {img, imgIds, txt, txtIds, timesteps, y, guidance}) {
            if (a != null) a.tempAttach(scope);
        }
        return this;
    }
}
