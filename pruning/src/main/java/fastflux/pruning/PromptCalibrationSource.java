package fastflux.pruning;

import ai.djl.ndarray.NDManager;
import fastflux.world.World;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Calibration prompts of a {@link World}, drawn from its own prompt distribution with their own seed and conditioned
 * by its text encoder. Deliberately there is no constructor taking a prompt list: calibration never sees an
 * evaluation prompt file.
 */
public final class PromptCalibrationSource implements CalibrationSource {
    private final World<?> world;
    private final List<String> prompts;
    private final String label;

    private PromptCalibrationSource(World<?> world, List<String> prompts, String label) {
        this.world = world;
        this.prompts = List.copyOf(prompts);
        this.label = label;
    }

    /** {@code n} of the world's prompts, deterministic in {@code seed}. */
    public static PromptCalibrationSource sample(World<?> world, int n, long seed) {
        if (n <= 0) {
            throw new IllegalArgumentException("calibration needs at least one prompt, got " + n);
        }
        return new PromptCalibrationSource(world, world.samplePrompts(n, seed), world.describeSample(n, seed));
    }

    /**
     * {@code n} prompts, deterministic in {@code seed}, none of whose texts is one of {@code training}'s: a held-out
     * set for measuring what was fitted on {@code training}.
     */
    public static PromptCalibrationSource heldOut(PromptCalibrationSource training, int n, long seed) {
        List<String> prompts = training.world.heldOutPrompts(training.prompts, n, seed);
        return new PromptCalibrationSource(training.world, prompts, training.world.describeSample(n, seed));
    }

    /** {@code n} prompts, deterministic in {@code seed}, none of whose texts is one of {@code a}'s or {@code b}'s. */
    public static PromptCalibrationSource heldOut(PromptCalibrationSource a, PromptCalibrationSource b, int n, long seed) {
        java.util.Set<String> exclude = new java.util.LinkedHashSet<>(a.prompts);
        exclude.addAll(b.prompts);
        return new PromptCalibrationSource(a.world, a.world.heldOutPrompts(exclude, n, seed), a.world.describeSample(n, seed));
    }

    public List<String> prompts() {
        return Collections.unmodifiableList(prompts);
    }

    @Override
    public int size() {
        return prompts.size();
    }

    @Override
    public String describe() {
        return label;
    }

    @Override
    public int latentTokens() {
        return world.latentTokens();
    }

    @Override
    public int latentChannels() {
        return world.flux().config().inChannels();
    }

    @Override
    public boolean shiftSchedule() {
        return world.shiftSchedule();
    }

    @Override
    public Conditioning condition(int[] promptIndices, NDManager m) {
        List<String> texts = new ArrayList<>(promptIndices.length);
        for (int i : promptIndices) texts.add(prompts.get(i));
        return of(world.condition(texts, m));
    }

    @Override
    public Conditioning unconditional(int n, NDManager m) {
        return of(world.condition(Collections.nCopies(n, ""), m));
    }

    private static Conditioning of(World.Conditioning c) {
        return new Conditioning(c.txt(), c.y(), c.txtIds(), c.imgIds());
    }
}
