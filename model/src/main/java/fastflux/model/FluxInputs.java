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
}
