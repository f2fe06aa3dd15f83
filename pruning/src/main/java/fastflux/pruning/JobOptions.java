package fastflux.pruning;

import fastflux.world.World;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * A pruning job's options beyond the method's ({@link PruneOptions}): what it prunes, where it writes, what it
 * calibrates on or reuses, and how its report measures quality. {@link #ALL} is the whole registry of a job: the
 * {@code prune} command's flags and a job file's keys, one per option, each spelt as its name.
 */
public final class JobOptions {
    private JobOptions() {}

    /** The report's default quality set: grammar prompts of their own seed (not the calibration ones). */
    public static final int QUALITY_PROMPTS = 48;
    public static final long QUALITY_PROMPT_SEED = 777;

    /** The embedded default model: {@code models/shapes-tiny} under the project (or {@code -Dfastflux.home}). */
    public static Path embeddedModel() {
        return Path.of(System.getProperty("fastflux.home", "."), "models", "shapes-tiny");
    }

    public static final Option<Path> MODEL = Option.path("model").label("DIR")
            .defaultValue(JobOptions::embeddedModel, "the embedded models/shapes-tiny")
            .help("the full model to prune: a Shapes model, a FLUX.1 pipeline directory (diffusers or BFL layout, "
                    + "with its text encoders), or a FLUX.1 transformer checkpoint with --calib-file").build();

    public static final Option<Path> OUT = Option.path("out").label("DIR").required()
            .help("the pruned model directory; report.md/json, importance.json/png and state/ go here; a run killed "
                    + "midway resumes from its last completed block when started again").build();

    public static final Option<Path> CALIB_FILE = Option.path("calib-file").defaultText("grammar prompts")
            .help("calibrate on precomputed conditioning instead of grammar prompts (a checkpoint whose text encoders are "
                    + "not run here): a safetensors file with txt [N, L, context_in_dim] and y [N, vec_in_dim] (one row "
                    + "per prompt, F32/F16/BF16; diffusers' prompt_embeds and pooled_prompt_embeds are read as txt and y), and for a model without guidance embedding the empty prompt's neg_txt "
                    + "[1, L, context_in_dim] and neg_y [1, vec_in_dim]; each prompt runs with 2 noise seeds; excludes "
                    + "--calib-prompts").build();

    public static final Option<Path> REUSE_FROM = Option.path("reuse-from").label("DIR").defaultText("none")
            .help("build this ratio from a finished higher-ratio run in DIR, without training: kept blocks get that "
                    + "run's final adapters, trained for its ratio (docs/method.md, \"Reuse at a lower ratio\")").build();

    public static final Option<Boolean> REUSE_AT_RATIO = Option.flag("reuse-at-ratio").defaultValue(false)
            .help("with --reuse-from: that run's components as they were when it had replaced this ratio's blocks (its "
                    + "stage, state/stage-NNNN.json): the model a run to this ratio trains, byte for byte").build();

    public static final Option<Boolean> EVAL = Option.flag("eval").defaultValue(true)
            .help("compare the base and pruned models' quality in the report; --no-eval reports FLOPs and latency only").build();

    public static final Option<Path> EVAL_PROMPTS = Option.path("eval-prompts").label("FILE")
            .defaultText(QUALITY_PROMPTS + " grammar prompts, seed " + QUALITY_PROMPT_SEED)
            .help("the report's quality prompts, category<TAB>prompt per line").build();

    public static final Option<Integer> EVAL_SEEDS = Option.integer("eval-seeds").label("K").defaultValue(2)
            .check(k -> k >= 1, k -> "eval-seeds must be positive, got " + k)
            .help("images per quality prompt").build();

    public static final Option<fastflux.pruning.plan.Devices> DEVICES = Option.text("devices", fastflux.pruning.plan.Devices.class,
                    fastflux.pruning.plan.Devices::parse, fastflux.pruning.plan.Devices::toString).label("SPEC")
            .defaultValue(fastflux.pruning.plan.Devices.CPU)
            .help("where the transformer runs: cpu, or cuda:0,cuda:1,... (contiguous block ranges, one per device; "
                    + "`fastflux plan` shows each device's memory)").build();

    public static final Option<fastflux.pruning.plan.ComputeDtype> DTYPE = Option.choice("dtype",
                    fastflux.pruning.plan.ComputeDtype.class, "dtype", dtypes())
            .defaultValue(fastflux.pruning.plan.ComputeDtype.AUTO)
            .help("the dtype the weights are held and run in: auto is fp16 on GPUs and fp32 on the CPU; bf16 checkpoints "
                    + "are converted tensor by tensor; what is trained keeps fp32 copies (docs/gpu.md)").build();

    public static final Option<Long> MEMORY_LIMIT = Option.text("memory-limit", Long.class, fastflux.pruning.plan.Bytes::parse,
                    fastflux.pruning.plan.Bytes::text).label("SIZE")
            .defaultText("each device's free memory (cpu: MemAvailable and the cgroup limit)")
            .help("memory the plan may use on each device, such as 64G; the job is refused before any work when a "
                    + "phase needs more").build();

    private static java.util.Map<String, fastflux.pruning.plan.ComputeDtype> dtypes() {
        java.util.Map<String, fastflux.pruning.plan.ComputeDtype> m = new java.util.LinkedHashMap<>();
        for (fastflux.pruning.plan.ComputeDtype d : fastflux.pruning.plan.ComputeDtype.values()) m.put(d.cliName(), d);
        return m;
    }

    public static final Option<Boolean> COPY = Option.flag("copy").defaultValue(false).resourceOnly()
            .help("a FLUX.1 export copies the parts pruning does not change (text encoders, tokenizers, autoencoder, "
                    + "scheduler) instead of linking them (docs/export-format.md)").build();

    public static final Option<Long> SHARD_SIZE = Option.whole("shard-size").label("BYTES")
            .defaultValue(World.ExportChoices.DEFAULT.maxShardBytes()).resourceOnly()
            .check(b -> b >= 1, b -> "shard-size must be at least 1 byte, got " + b)
            .help("the largest weight file of a diffusers export, as diffusers' max_shard_size (a larger tensor gets a "
                    + "file of its own)").build();

    // ---- a FLUX.1 pipeline directory's world (docs/flux-pruning.md); null: as the model is used

    public static final Option<Path> PROMPTS = Option.path("prompts").label("FILE")
            .defaultText("the shipped calibration sets (PartiPrompts)")
            .help("FLUX.1: the calibration prompts, one a line or category<TAB>prompt; the least squares and the "
                    + "sandwich training draw disjoint sets from it (--fit-prompts, --train-prompts)").build();

    public static final Option<Path> CLIP = Option.path("clip").label("DIR").defaultText("none")
            .help("FLUX.1: a Hugging Face CLIPModel folder that judges images (CLIP score, Frechet distance on CLIP image "
                    + "embeddings): needed by --importance fd-align and the report's quality").build();

    public static final Option<Integer> WIDTH = Option.integer("width").label("PX").defaultText("1024")
            .check(w -> w >= 1, w -> "width must be positive, got " + w)
            .help("FLUX.1: the width of calibration, probe and evaluation images").build();

    public static final Option<Integer> HEIGHT = Option.integer("height").label("PX").defaultText("1024")
            .check(h -> h >= 1, h -> "height must be positive, got " + h)
            .help("FLUX.1: the height of calibration, probe and evaluation images").build();

    public static final Option<Integer> SAMPLER_STEPS = Option.integer("sampler-steps").label("N")
            .defaultText("28 for dev, 4 for schnell")
            .check(n -> n >= 1, n -> "sampler steps must be at least 1, got " + n)
            .help("FLUX.1: sampler steps of the importance probe's and the report's images (calibration trajectories "
                    + "take --calib-steps)").build();

    public static final Option<Float> GUIDANCE = Option.single("guidance").label("G").defaultText("3.5")
            .check(g -> g >= 0, g -> "guidance must be 0 or more, got " + g)
            .help("FLUX.1: the embedded guidance of every generation (a model without guidance embedding ignores it)").build();

    public static final Option<Integer> MAX_SEQUENCE_LENGTH = Option.integer("max-sequence-length").label("L")
            .defaultText("512 for dev, 256 for schnell")
            .check(n -> n >= 1, n -> "max-sequence-length must be at least 1, got " + n)
            .help("FLUX.1: T5 tokens per prompt; a longer prompt is refused naming its line").build();

    public static final Option<Integer> FIT_PROMPTS = Option.integer("fit-prompts").defaultText("512")
            .check(n -> n >= 1, n -> "fit-prompts must be at least 1, got " + n)
            .help("FLUX.1: prompts of the least-squares fit (take the place of --calib-prompts)").build();

    public static final Option<Integer> TRAIN_PROMPTS = Option.integer("train-prompts").defaultText("512")
            .check(n -> n >= 1, n -> "train-prompts must be at least 1, got " + n)
            .help("FLUX.1: prompts of the sandwich training, none of them a fit prompt").build();

    public static final Option<Integer> PROBE_IMAGES = Option.integer("probe-images").label("N")
            .defaultText("192, or CLIP's dimension + 1 where larger")
            .check(n -> n >= 2, n -> "probe-images must be at least 2, got " + n)
            .help("FLUX.1: images per block of the fd-align probe (the Frechet distance needs more than the CLIP "
                    + "embedding's dimension: 769 for ViT-L/14)").build();

    /** The options a FLUX.1 world reads ({@link fastflux.world.WorldProvider#open(Path, ai.djl.ndarray.NDManager, java.util.Map)}). */
    public static final List<Option<?>> WORLD = List.of(PROMPTS, CLIP, WIDTH, HEIGHT, SAMPLER_STEPS, GUIDANCE,
            MAX_SEQUENCE_LENGTH, FIT_PROMPTS, TRAIN_PROMPTS, PROBE_IMAGES);

    /** The world settings among {@code values}: each given one by name, its value as text. */
    public static java.util.Map<String, String> worldSettings(OptionValues values) {
        java.util.Map<String, String> out = new java.util.LinkedHashMap<>();
        for (Option<?> o : WORLD) text(o, values).ifPresent(t -> out.put(o.name(), t));
        return out;
    }

    private static <T> java.util.Optional<String> text(Option<T> o, OptionValues values) {
        T v = values.get(o);
        return v == null ? java.util.Optional.empty() : java.util.Optional.of(o.format(v));
    }

    /** Every option of a job: the model, the ratio and output, the method's options, then the job's inputs. */
    public static final List<Option<?>> ALL = all();

    private static List<Option<?>> all() {
        List<Option<?>> all = new ArrayList<>(List.of(MODEL, PruneOptions.RATIO, OUT));
        for (Option<?> o : PruneOptions.ALL) if (o != PruneOptions.RATIO) all.add(o);
        all.addAll(List.of(CALIB_FILE, REUSE_FROM, REUSE_AT_RATIO, EVAL, EVAL_PROMPTS, EVAL_SEEDS, COPY, SHARD_SIZE));
        all.addAll(WORLD);
        all.addAll(List.of(DEVICES, DTYPE, MEMORY_LIMIT));
        return List.copyOf(all);
    }

    /**
     * Checks how the options a user gave combine; {@code spelling} writes an option as that user wrote it
     * ({@code --calib-file} on the command line, {@code calib-file} in a job file).
     */
    public static void checkGiven(Set<Option<?>> given, Function<Option<?>, String> spelling) {
        if (given.contains(CALIB_FILE) && given.contains(PruneOptions.CALIB_PROMPTS)) {
            throw new IllegalArgumentException(spelling.apply(CALIB_FILE) + " and " + spelling.apply(PruneOptions.CALIB_PROMPTS)
                    + " exclude each other (the file's rows are the prompts)");
        }
    }
}
