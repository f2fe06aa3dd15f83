package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * Where calibration prompts come from: per prompt, the transformer's conditioning (what a text encoder would
 * give) and the latent geometry. The calibration stream ({@link Calibration}) asks for one batch of prompts
 * at a time, so a source never has to hold all of them as arrays.
 *
 * <p>Two implementations: {@link PromptCalibrationSource} (a world's prompts through its text encoder)
 * and {@link PrecomputedCalibrationSource} (a safetensors file of {@code txt}/{@code y} per prompt, for real
 * FLUX checkpoints whose T5/CLIP encoders are not part of this project).
 */
public interface CalibrationSource {
    /** One batch's conditioning: txt [B, L, C], y [B, vec_in], txt_ids [B, L, 3], img_ids [B, L_img, 3]. */
    record Conditioning(NDArray txt, NDArray y, NDArray txtIds, NDArray imgIds) {
        NDArray[] arrays() {
            return new NDArray[] {txt, y, txtIds, imgIds};
        }
    }

    /** Number of prompts. */
    int size();

    /** A short human label of the prompts (for reports), e.g. {@code grammar(n=64, seed=7)}. */
    String describe();

    /** Packed latent tokens per image (L_img). */
    int latentTokens();

    /** Channels per latent token (the config's in_channels). */
    int latentChannels();

    /** Whether the timestep schedule is shifted towards high noise (FLUX-dev style). */
    boolean shiftSchedule();

    /** The conditioning of the given prompts (by index, repeats allowed), created in {@code m}. */
    Conditioning condition(int[] promptIndices, NDManager m);

    /**
     * The unconditional (empty prompt) conditioning for {@code n} images, for classifier-free guidance, or
     * null when the source has none (a guidance-distilled model needs none).
     */
    Conditioning unconditional(int n, NDManager m);

    /** The first {@code n} prompts of {@code source}, as a source of their own. */
    static CalibrationSource firstRows(CalibrationSource source, int n) {
        if (n < 1 || n > source.size()) {
            throw new IllegalArgumentException("rows 1.." + source.size() + " of " + source.describe() + ", asked for " + n);
        }
        return new CalibrationSource() {
            @Override
            public int size() {
                return n;
            }

            @Override
            public String describe() {
                return n == source.size() ? source.describe() : "the first " + n + " of " + source.describe();
            }

            @Override
            public int latentTokens() {
                return source.latentTokens();
            }

            @Override
            public int latentChannels() {
                return source.latentChannels();
            }

            @Override
            public boolean shiftSchedule() {
                return source.shiftSchedule();
            }

            @Override
            public Conditioning condition(int[] promptIndices, NDManager m) {
                for (int i : promptIndices) {
                    if (i < 0 || i >= n) throw new IndexOutOfBoundsException("prompt " + i + " of " + n);
                }
                return source.condition(promptIndices, m);
            }

            @Override
            public Conditioning unconditional(int rows, NDManager m) {
                return source.unconditional(rows, m);
            }
        };
    }
}
