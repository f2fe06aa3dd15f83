/**
 * FLUX.1's autoencoder, exact to BFL's {@code flux/modules/autoencoder.py}: {@link fastflux.pipeline.vae.AutoEncoder}
 * with its {@link fastflux.pipeline.vae.AutoEncoderParams}, loaded from BFL's {@code ae.safetensors} or a diffusers
 * {@code AutoencoderKL} {@code vae/} folder ({@link fastflux.pipeline.vae.AutoEncoderLayout}).
 */
package fastflux.pipeline.vae;
