/**
 * FLUX.1's CLIP text encoder: {@link fastflux.pipeline.clip.ClipTokenizer} (CLIP's BPE, run by Hugging Face
 * tokenizers through DJL) and {@link fastflux.pipeline.clip.ClipTextEncoder} (Hugging Face's {@code CLIPTextModel},
 * whose pooled output conditions the transformer), configured by {@link fastflux.pipeline.clip.ClipTextConfig}.
 */
package fastflux.pipeline.clip;
