package fastflux.pruning;

import ai.djl.ndarray.NDManager;
import fastflux.shapes.Latents;
import fastflux.shapes.Prompt;
import fastflux.shapes.PromptSets;
import fastflux.shapes.ShapesModel;
import fastflux.shapes.ShapesWorld;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Calibration prompts of the Shapes world, drawn from the prompt grammar ({@link PromptSets#sample}) with
 * their own seed. Deliberately there is no constructor taking a prompt list: calibration never sees an
 * evaluation prompt file.
 */
public final class ShapesCalibrationSource implements CalibrationSource {
    private final ShapesModel model;
    private final List<Prompt> prompts;
    private final long seed;

    private ShapesCalibrationSource(ShapesModel model, List<Prompt> prompts, long seed) {
        this.model = model;
        this.prompts = List.copyOf(prompts);
        this.seed = seed;
    }

    /** {@code n} grammar prompts, deterministic in {@code seed}. */
    public static ShapesCalibrationSource fromGrammar(ShapesModel model, int n, long seed) {
        if (n <= 0) {
            throw new IllegalArgumentException("calibration needs at least one prompt, got " + n);
        }
        return new ShapesCalibrationSource(model, PromptSets.sample(n, seed), seed);
    }

    /**
     * {@code n} grammar prompts, deterministic in {@code seed}, none of whose texts is one of {@code training}'s:
     * a held-out set for measuring what was fitted on {@code training}.
     *
     * @throws IllegalArgumentException when the grammar does not yield {@code n} such prompts in 100·n draws
     */
    public static ShapesCalibrationSource heldOut(ShapesCalibrationSource training, int n, long seed) {
        if (n <= 0) throw new IllegalArgumentException("a held-out set needs at least one prompt, got " + n);
        Set<String> seen = new HashSet<>();
        for (Prompt p : training.prompts) seen.add(p.text());
        List<Prompt> out = new ArrayList<>(n);
        SplittableRandom r = new SplittableRandom(seed);
        for (long draws = 0; out.size() < n; draws++) {
            if (draws >= 100L * n) {
                throw new IllegalArgumentException("the grammar gave only " + out.size() + " of " + n
                        + " held-out prompts outside the " + seen.size() + " calibration prompts");
            }
            Prompt p = ShapesWorld.samplePrompt(r);
            if (seen.add(p.text())) out.add(p);
        }
        return new ShapesCalibrationSource(training.model, out, seed);
    }

    public List<Prompt> prompts() {
        return Collections.unmodifiableList(prompts);
    }

    @Override
    public int size() {
        return prompts.size();
    }

    @Override
    public String describe() {
        return "grammar(n=" + prompts.size() + ", seed=" + seed + ")";
    }

    @Override
    public int latentTokens() {
        return Latents.TOKENS;
    }

    @Override
    public int latentChannels() {
        return Latents.CHANNELS;
    }

    @Override
    public boolean shiftSchedule() {
        return true; // as ShapesModel.sample
    }

    @Override
    public Conditioning condition(int[] promptIndices, NDManager m) {
        List<String> texts = new ArrayList<>(promptIndices.length);
        for (int i : promptIndices) {
            texts.add(prompts.get(i).text());
        }
        return of(model.condition(texts, m));
    }

    @Override
    public Conditioning unconditional(int n, NDManager m) {
        return of(model.condition(Collections.nCopies(n, ""), m));
    }

    private static Conditioning of(ShapesModel.Conditioning c) {
        return new Conditioning(c.txt(), c.y(), c.txtIds(), c.imgIds());
    }
}
