/**
 * FLUX.1 as users download it: checkpoints in the BFL and diffusers layouts, the T5 and CLIP text encoders with their
 * tokenizers, and the autoencoder, on DJL. Each component is exact to its reference implementation at small
 * configurations ({@code ../shared/fixtures}).
 */
package fastflux.pipeline;
