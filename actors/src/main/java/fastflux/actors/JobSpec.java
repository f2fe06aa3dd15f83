package fastflux.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import fastflux.model.Replacement;
import fastflux.pruning.PruneJob;
import fastflux.pruning.PruneOptions;
import fastflux.shapes.PromptFile;
import fastflux.shapes.PromptSets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;

/**
 * A pruning job as it travels from a client (the {@code prune} command or a job file) to a node: plain values,
 * paths absolute. The optional paths ({@code importanceFrom}, {@code calibFile}, {@code reuseFrom},
 * {@code evalPrompts}) are null when not given; {@code reuseAtRatio} takes the reused run's components at this
 * ratio's stage instead of its final ones ({@link PruneJob#reuseFrom(Path, boolean)}); {@code eval} asks for the report's quality comparison of base
 * and pruned models ({@code evalPrompts} or the default grammar set, {@code evalSeeds} images a prompt).
 */
public record JobSpec(String model, String out, double ratio, String importance, String order, String mode,
                      boolean sandwichTraining, int sandwich, int calibPrompts, int calibSteps, int stSteps,
                      double lr, double linearLr, int loraRank, double loraAlpha, long seed, String importanceFrom, String calibFile,
                      String reuseFrom, boolean reuseAtRatio, boolean eval, String evalPrompts, int evalSeeds)
        implements WireMessage {

    /** The report's default quality set: grammar prompts of their own seed (not the calibration ones). */
    public static final int QUALITY_PROMPTS = 48;
    public static final long QUALITY_PROMPT_SEED = 777;
    public static final int QUALITY_SEEDS = 2;

    /** A job without the optional inputs and without the quality comparison (the report still has the speed). */
    public JobSpec(String model, String out, double ratio, String importance, String order, String mode,
                   boolean sandwichTraining, int sandwich, int calibPrompts, int calibSteps, int stSteps,
                   double lr, int loraRank, double loraAlpha, long seed) {
        this(model, out, ratio, importance, order, mode, sandwichTraining, sandwich, calibPrompts, calibSteps, stSteps,
                lr, PruneOptions.DEFAULT_LINEAR_LR, loraRank, loraAlpha, seed, null, null, null, false, false, null, QUALITY_SEEDS);
    }

    static final Set<String> KEYS = Set.of("model", "out", "ratio", "importance", "order", "mode", "sandwich-training",
            "sandwich", "calib-prompts", "calib-steps", "st-steps", "lr", "linear-lr", "lora-rank", "lora-alpha", "seed",
            "importance-from", "calib-file", "reuse-from", "reuse-at-ratio", "eval", "eval-prompts", "eval-seeds");

    /** Reads a job file (HOCON); relative paths are resolved against {@code cwd}. Unknown keys are errors. */
    public static JobSpec read(Path file, Path cwd) {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException("job file " + file + " does not exist");
        Config c;
        try {
            c = ConfigFactory.parseFile(file.toFile()).resolve();
        } catch (ConfigException e) {
            String m = e.getMessage();
            throw new IllegalArgumentException("job file " + (m.startsWith(file.toString()) ? m : file + ": " + m));
        }
        return fromConfig(c, cwd, file.toString());
    }

    static JobSpec fromConfig(Config c, Path cwd, String where) {
        Set<String> unknown = new TreeSet<>();
        c.root().keySet().forEach(k -> { if (!KEYS.contains(k)) unknown.add(k); });
        if (!unknown.isEmpty()) throw new IllegalArgumentException(where + ": unknown key(s) " + unknown + "; known: " + new TreeSet<>(KEYS));
        PruneOptions d = PruneOptions.defaults(0.2);
        try {
            for (String k : new String[] {"model", "out", "ratio"}) {
                if (!c.hasPath(k)) throw new IllegalArgumentException(where + ": missing required key '" + k + "'");
            }
            if (c.hasPath("calib-file") && c.hasPath("calib-prompts")) {
                throw new IllegalArgumentException(where + ": calib-file and calib-prompts exclude each other (the file's rows are the prompts)");
            }
            return new JobSpec(cwd.resolve(c.getString("model")).toAbsolutePath().normalize().toString(),
                    cwd.resolve(c.getString("out")).toAbsolutePath().normalize().toString(), c.getDouble("ratio"),
                    str(c, "importance", d.importance()), str(c, "order", "importance"), str(c, "mode", "linear"),
                    c.hasPath("sandwich-training") ? c.getBoolean("sandwich-training") : d.sandwichTraining(),
                    num(c, "sandwich", d.sandwichWidth()), num(c, "calib-prompts", d.calibPrompts()),
                    num(c, "calib-steps", d.calibSteps()), num(c, "st-steps", d.stSteps()),
                    c.hasPath("lr") ? c.getDouble("lr") : d.lr(),
                    c.hasPath("linear-lr") ? c.getDouble("linear-lr") : d.linearLr(), num(c, "lora-rank", d.loraRank()),
                    c.hasPath("lora-alpha") ? c.getDouble("lora-alpha") : d.loraAlpha(),
                    c.hasPath("seed") ? c.getLong("seed") : d.seed(), path(c, "importance-from", cwd), path(c, "calib-file", cwd),
                    path(c, "reuse-from", cwd), c.hasPath("reuse-at-ratio") && c.getBoolean("reuse-at-ratio"),
                    !c.hasPath("eval") || c.getBoolean("eval"), path(c, "eval-prompts", cwd),
                    num(c, "eval-seeds", QUALITY_SEEDS));
        } catch (ConfigException e) {
            // a value's error names its origin (file: line) itself
            String m = e.getMessage();
            throw new IllegalArgumentException(m.startsWith(where) ? m : where + ": " + m);
        }
    }

    private static String str(Config c, String k, String def) {
        return c.hasPath(k) ? c.getString(k) : def;
    }

    private static String path(Config c, String k, Path cwd) {
        return c.hasPath(k) ? absolute(cwd.resolve(c.getString(k))) : null;
    }

    /** A path as a job holds it: absolute and normalised; null stays null. */
    public static String absolute(Path p) {
        return p == null ? null : p.toAbsolutePath().normalize().toString();
    }

    private static int num(Config c, String k, int def) {
        return c.hasPath(k) ? c.getInt(k) : def;
    }

    /** The PruneJob options; throws IllegalArgumentException naming the bad value. */
    public PruneOptions options() {
        Replacement.Mode m = switch (mode) {
            case "linear" -> Replacement.Mode.LINEAR;
            case "delete" -> Replacement.Mode.DELETE;
            default -> throw new IllegalArgumentException("mode must be linear or delete, got '" + mode + "'");
        };
        return new PruneOptions(ratio, importance, importanceFrom == null ? null : Path.of(importanceFrom),
                PruneOptions.Order.parse(order), m, sandwichTraining, sandwich,
                calibPrompts, calibSteps, stSteps, lr, linearLr, loraRank, (float) loraAlpha, PruneOptions.defaults(ratio).bufferBytes(), seed);
    }

    private static java.util.List<String> texts(java.util.List<fastflux.shapes.Prompt> prompts) {
        return prompts.stream().map(fastflux.shapes.Prompt::text).toList();
    }

    /** The report's quality comparison, or null without one; reads (and so checks) the prompt file. */
    public PruneJob.Quality quality() {
        if (!eval) return null;
        if (evalPrompts != null) {
            try {
                Path f = Path.of(evalPrompts);
                Path cwd = Path.of("").toAbsolutePath();
                // The report names the file as the user would: relative to the working directory when it is under it.
                return new PruneJob.Quality(texts(PromptFile.read(f)), evalSeeds, f.startsWith(cwd) ? cwd.relativize(f).toString() : evalPrompts);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot read evaluation prompts " + evalPrompts, e);
            }
        }
        return new PruneJob.Quality(texts(PromptSets.sample(QUALITY_PROMPTS, QUALITY_PROMPT_SEED)), evalSeeds,
                QUALITY_PROMPTS + " grammar prompts (seed " + QUALITY_PROMPT_SEED + ")");
    }

    /**
     * What can be checked without the daemon's file system: the options' values and how they combine. A client
     * whose daemon runs on another machine checks only these (the paths are the daemon's); the daemon checks all.
     */
    public void validateOptions() {
        options();
        if (Path.of(model).toAbsolutePath().normalize().equals(Path.of(out).toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("out must differ from model");
        }
        if (reuseAtRatio && reuseFrom == null) {
            throw new IllegalArgumentException("reuse-at-ratio needs reuse-from: the run whose stage to export");
        }
        if (eval && evalSeeds < 1) throw new IllegalArgumentException("eval-seeds must be positive, got " + evalSeeds);
    }

    /** Everything that can be checked before the job takes the device; the message says what is wrong. */
    public void validate() {
        validateOptions();
        Path m = Path.of(model);
        if (!Files.isDirectory(m)) throw new IllegalArgumentException("model directory " + model + " does not exist");
        if (!Files.isRegularFile(m.resolve("model.safetensors")) || !Files.isRegularFile(m.resolve("config.json"))) {
            throw new IllegalArgumentException("model directory " + model + " has no model.safetensors and config.json");
        }
        if (importanceFrom != null) {
            if (!Files.isRegularFile(Path.of(importanceFrom))) {
                throw new IllegalArgumentException("importance file " + importanceFrom + " does not exist");
            }
            // read now, against the model's blocks: a wrong file is named before minutes of base-quality work
            fastflux.pruning.ImportanceReport.read(Path.of(importanceFrom), fastflux.model.ModelDir.readParams(m));
        }
        if (calibFile != null && !Files.isRegularFile(Path.of(calibFile))) {
            throw new IllegalArgumentException("calibration file " + calibFile + " does not exist");
        }
        fastflux.pruning.PruneJob.requireRunnable(m, fastflux.pruning.BaseModel.hasWorld(m), options(), calibFile != null);
        if (reuseFrom != null && !Files.isDirectory(Path.of(reuseFrom))) {
            throw new IllegalArgumentException("reuse-from directory " + reuseFrom + " does not exist");
        }
        if (evalPrompts != null && !Files.isRegularFile(Path.of(evalPrompts))) {
            throw new IllegalArgumentException("evaluation prompt file " + evalPrompts + " does not exist");
        }
        quality();
        // made now if missing; a job would learn it at its first checkpoint otherwise
        fastflux.model.io.OutputPaths.requireWritableDir(Path.of(out), "out directory");
    }

}
