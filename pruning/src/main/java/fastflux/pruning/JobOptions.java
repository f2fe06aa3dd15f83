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
            .help("the full model to prune: a Shapes model, or a FLUX.1 transformer checkpoint with --calib-file").build();

    public static final Option<Path> OUT = Option.path("out").label("DIR").required()
            .help("the pruned model directory; report.md/json, importance.json/png and state/ go here; a run killed "
                    + "midway resumes from its last completed block when started again").build();

    public static final Option<Path> CALIB_FILE = Option.path("calib-file").defaultText("grammar prompts")
            .help("calibrate on precomputed conditioning instead of grammar prompts (a checkpoint whose text encoders are "
                    + "not run here): a safetensors file with txt [N, L, context_in_dim] and y [N, vec_in_dim] (one row "
                    + "per prompt, F32/F16/BF16), and for a model without guidance embedding the empty prompt's neg_txt "
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

    /** Every option of a job: the model, the ratio and output, the method's options, then the job's inputs. */
    public static final List<Option<?>> ALL = all();

    private static List<Option<?>> all() {
        List<Option<?>> all = new ArrayList<>(List.of(MODEL, PruneOptions.RATIO, OUT));
        for (Option<?> o : PruneOptions.ALL) if (o != PruneOptions.RATIO) all.add(o);
        all.addAll(List.of(CALIB_FILE, REUSE_FROM, REUSE_AT_RATIO, EVAL, EVAL_PROMPTS, EVAL_SEEDS, COPY, SHARD_SIZE));
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
