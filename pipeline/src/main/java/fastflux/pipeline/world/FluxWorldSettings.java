package fastflux.pipeline.world;

import fastflux.pipeline.FluxPipeline;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import fastflux.world.WorldProvider;

/**
 * A FLUX.1 world's settings, from the job's options by name ({@code fastflux.pruning.JobOptions.WORLD}); a null field
 * is "as the model is used": 1024 x 1024, 28 steps and guidance 3.5 for a model with guidance embedding (dev), 4 steps
 * for one without (schnell), T5's 512 or 256 tokens; 512 fit and 512 train prompts.
 *
 * @param probeImages images per block of the importance probe, null for the method's default
 * @param cacheDir where the embedding cache is kept (the job's {@code out}, else a folder under the temp directory)
 * @param evaluationPrompts prompts beyond the pool that the job will condition on (the report's), encoded at open
 */
public record FluxWorldSettings(Path prompts, Path clip, Integer width, Integer height, Integer steps, Float guidance,
                                Integer maxSequenceLength, Integer fitPrompts, Integer trainPrompts, Integer probeImages, Path cacheDir,
                                List<String> evaluationPrompts) {
    /** FLUX.1-dev's sampler steps as diffusers' pipeline runs it. */
    public static final int DEV_STEPS = 28;
    public static final int DEFAULT_FIT = DefaultPrompts.FIT;
    public static final int DEFAULT_TRAIN = DefaultPrompts.TRAIN;
    /** The report's default prompts (the job's {@code QUALITY_PROMPTS} of the evaluation set, its seed), encoded at open. */
    public static final int REPORT_PROMPTS = 48;
    public static final long REPORT_SEED = 777;
    static final Set<String> KEYS = Set.of("prompts", "clip", "width", "height", "sampler-steps", "guidance",
            "max-sequence-length", "fit-prompts", "train-prompts", "probe-images", WorldProvider.OUT, WorldProvider.EVAL_PROMPTS);

    public FluxWorldSettings {
        evaluationPrompts = evaluationPrompts == null ? List.of() : List.copyOf(evaluationPrompts);
    }

    /** The defaults, nothing given. */
    public static FluxWorldSettings defaults() {
        return new FluxWorldSettings(null, null, null, null, null, null, null, null, null, null, null, List.of());
    }

    /** Settings from a job's world options by name, values as text; an unknown key is named. */
    public static FluxWorldSettings of(Map<String, String> s) {
        for (String k : s.keySet()) {
            if (!KEYS.contains(k)) throw new IllegalArgumentException("a FLUX.1 pipeline takes no option --" + k);
        }
        Path out = path(s, WorldProvider.OUT);
        List<String> eval;
        try {
            String file = s.get(WorldProvider.EVAL_PROMPTS);
            eval = file == null ? DefaultPrompts.get().evaluation(REPORT_PROMPTS, REPORT_SEED)
                    : file.isEmpty() ? List.of() : PromptFiles.distinctTexts(PromptFiles.read(Path.of(file)));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return new FluxWorldSettings(path(s, "prompts"), path(s, "clip"), integer(s, "width"), integer(s, "height"),
                integer(s, "sampler-steps"), s.containsKey("guidance") ? Float.parseFloat(s.get("guidance")) : null,
                integer(s, "max-sequence-length"), integer(s, "fit-prompts"), integer(s, "train-prompts"),
                integer(s, "probe-images"), out == null ? null : out.resolve("embeddings"), eval);
    }

    private static Path path(Map<String, String> s, String k) {
        return s.containsKey(k) ? Path.of(s.get(k)) : null;
    }

    private static Integer integer(Map<String, String> s, String k) {
        return s.containsKey(k) ? Integer.valueOf(s.get(k)) : null;
    }

    /** These settings with the report's evaluation prompts (encoded with the pool when the world opens). */
    public FluxWorldSettings withEvaluationPrompts(List<String> p) {
        return new FluxWorldSettings(prompts, clip, width, height, steps, guidance, maxSequenceLength, fitPrompts,
                trainPrompts, probeImages, cacheDir, p);
    }

    /** These settings with {@code n} T5 tokens per prompt. */
    public FluxWorldSettings withMaxSequenceLength(int n) {
        return new FluxWorldSettings(prompts, clip, width, height, steps, guidance, n, fitPrompts, trainPrompts, probeImages,
                cacheDir, evaluationPrompts);
    }

    /** Every null filled as {@code pipeline}'s model is used. */
    public FluxWorldSettings resolve(FluxPipeline pipeline) {
        FluxPipeline.Settings d = pipeline.defaultSettings();
        boolean dev = pipeline.guidanceDistilled();
        Path cache = cacheDir != null ? cacheDir
                : Path.of(System.getProperty("java.io.tmpdir"), "fastflux-embeddings-" + System.getProperty("user.name", "user"));
        return new FluxWorldSettings(prompts, clip, width != null ? width : d.width(), height != null ? height : d.height(),
                steps != null ? steps : dev ? DEV_STEPS : d.steps(), guidance != null ? guidance : d.guidance(),
                maxSequenceLength != null ? maxSequenceLength : d.maxSequenceLength(),
                fitPrompts != null ? fitPrompts : DEFAULT_FIT, trainPrompts != null ? trainPrompts : DEFAULT_TRAIN, probeImages, cache,
                evaluationPrompts);
    }

    /** {fit, train} prompt counts (resolved settings). */
    public int[] split() {
        return new int[] {fitPrompts, trainPrompts};
    }

    public String describe() {
        return String.format(Locale.ROOT, "%dx%d, %d steps, guidance %s, %d T5 tokens", width, height, steps,
                Float.toString(guidance), maxSequenceLength);
    }
}
