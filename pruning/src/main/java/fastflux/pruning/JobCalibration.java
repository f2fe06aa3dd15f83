package fastflux.pruning;

import fastflux.model.FluxModel;

/**
 * The calibration streams of a job: the trajectories the least squares and the sandwiches are fitted on (the world's
 * prompts with the job's own seed, never an evaluation file, or a file of precomputed conditioning), the sandwich's
 * held-out prompts, and what the report's output fidelity is measured on.
 */
final class JobCalibration {
    /** Rows of a calibration file the report's output fidelity samples (with the held-out noise seeds). */
    static final int FIDELITY_FILE_ROWS = 8;
    private static final long HELD_OUT_SEED_OFFSET = 7_919;
    /** Noise seeds of the held-out measurements; calibration's are {@link Calibration.Options#DEFAULT_SEEDS}. */
    static final long[] HELD_OUT_NOISE_SEEDS = {100, 101};

    private final FluxModel flux;
    private final BaseModel base;
    private final PrecomputedCalibrationSource file;
    private final PruneOptions options;

    /** Calibration of {@code flux} (the job's model), from {@code file} when not null, else from the base's world. */
    JobCalibration(FluxModel flux, BaseModel base, PrecomputedCalibrationSource file, PruneOptions options) {
        this.flux = flux;
        this.base = base;
        this.file = file;
        this.options = options;
    }

    /** The calibration stream the least squares are fitted on (and the sandwiches, where the world has no split). */
    Calibration fit() {
        CalibrationSource source = file != null ? file : prompts();
        return new Calibration(flux, source, Calibration.Options.defaults().withSteps(options.calibSteps()));
    }

    /**
     * The stream the sandwiches train on: with a world's own split ({@link fastflux.world.World#calibrationSplit}) its
     * training prompts, none of them a fit prompt, as in the paper; otherwise the fit stream itself.
     */
    Calibration train() {
        int[] split = split();
        if (split == null) return fit();
        return new Calibration(flux, trainPrompts(split), Calibration.Options.defaults().withSteps(options.calibSteps()));
    }

    /** The world's {fit, train} split, or null (a calibration file, or a world without one). */
    private int[] split() {
        return file != null || !base.hasWorld() ? null : base.world("prompt calibration").calibrationSplit();
    }

    private PromptCalibrationSource prompts() {
        int[] split = split();
        return PromptCalibrationSource.sample(base.world("prompt calibration"), split != null ? split[0] : options.calibPrompts(),
                Calibration.Options.DEFAULT_PROMPT_SEED + options.seed());
    }

    private PromptCalibrationSource trainPrompts(int[] split) {
        return PromptCalibrationSource.heldOut(prompts(), split[1], Calibration.Options.DEFAULT_PROMPT_SEED + options.seed() + TRAIN_SEED_OFFSET);
    }

    private static final long TRAIN_SEED_OFFSET = 104_729;

    /**
     * The sandwich's held-out calibration: a quarter as many prompts as {@link #fit()}, 4 to 16 (1 to 16 with a world's
     * own split) (bounded, so the
     * held-out pairs' memory does not grow with the calibration), none of its prompt texts, other noise seeds; never
     * trained on, it measures whether sandwich training carries over to prompts it did not see. Null with a
     * calibration file (all its prompts are trained on).
     */
    Calibration heldOut() {
        if (file != null) return null;
        return new Calibration(flux, heldOutPrompts(), Calibration.Options.defaults().withSteps(options.calibSteps())
                .withSeeds(HELD_OUT_NOISE_SEEDS));
    }

    private PromptCalibrationSource heldOutPrompts() {
        int[] split = split();
        long seed = Calibration.Options.DEFAULT_PROMPT_SEED + options.seed() + HELD_OUT_SEED_OFFSET;
        if (split == null) {
            return PromptCalibrationSource.heldOut(prompts(), Math.max(4, Math.min(16, options.calibPrompts() / 4)), seed);
        }
        // neither a fit nor a training prompt; at least one (the world checks at open that its pool has fit + train + 1)
        return PromptCalibrationSource.heldOut(prompts(), trainPrompts(split), Math.max(1, Math.min(16, split[0] / 4)), seed);
    }

    /**
     * The report's output fidelity ({@link OutputFidelity}) of the exported model against {@code baseFlux}: the
     * sandwich's held-out prompts, or with a calibration file its first {@value #FIDELITY_FILE_ROWS} rows (prompts
     * calibrated on, since the file is all there is, with noise seeds calibration never drew); the calibration's
     * sampler steps.
     */
    OutputFidelity.Result outputFidelity(FluxModel exported, FluxModel baseFlux) {
        CalibrationSource source = file == null ? heldOutPrompts()
                : CalibrationSource.firstRows(file, Math.min(FIDELITY_FILE_ROWS, file.size()));
        Calibration.Options co = Calibration.Options.defaults().withSteps(options.calibSteps()).withSeeds(HELD_OUT_NOISE_SEEDS);
        return OutputFidelity.measure(exported, new Calibration(baseFlux, source, co));
    }
}
