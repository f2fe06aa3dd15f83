package fastflux.shapes;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Prompt sets drawn from the training distribution, e.g. FastFLUX calibration prompts. */
public final class PromptSets {
    private PromptSets() {}

    /** n prompts, deterministic in the seed. */
    public static List<Prompt> sample(int n, long seed) {
        if (n < 0) {
            throw new IllegalArgumentException("n must be >= 0, got " + n);
        }
        SplittableRandom r = new SplittableRandom(seed);
        List<Prompt> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(ShapesWorld.samplePrompt(r));
        }
        return out;
    }
}
