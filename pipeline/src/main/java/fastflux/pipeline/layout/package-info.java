/**
 * FLUX.1 transformer checkpoints in the layouts users have: a diffusers FluxPipeline folder, the BFL release files,
 * or fastflux's own model directory. {@link fastflux.pipeline.layout.FluxCheckpoint} recognises the layout and
 * loads the transformer; diffusers tensors are converted to the BFL names the model uses
 * ({@link fastflux.pipeline.layout.DiffusersKeys}).
 */
package fastflux.pipeline.layout;
