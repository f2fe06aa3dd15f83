package fastflux.actors;

import com.google.gson.JsonObject;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValue;
import fastflux.pruning.JobOptions;
import fastflux.pruning.Option;
import fastflux.pruning.OptionValues;
import fastflux.pruning.PruneJob;
import fastflux.pruning.PruneOptions;
import fastflux.shapes.PromptFile;
import fastflux.shapes.PromptSets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * A pruning job as it travels from a client (the {@code prune} command or a job file) to a node: the values of every
 * option of {@link JobOptions#ALL}, paths absolute, each in its range. The command line and a job file both build it
 * through {@link #fromGiven}, so the same options give equal specs; {@link #toJson} is its saved and wire form, keyed by
 * the options' names. Optional paths (importance-from, calib-file, reuse-from, eval-prompts) are null when not given.
 */
public final class JobSpec implements WireMessage {
    /** The report's default quality set: grammar prompts of their own seed (not the calibration ones). */
    public static final int QUALITY_PROMPTS = JobOptions.QUALITY_PROMPTS;
    public static final long QUALITY_PROMPT_SEED = JobOptions.QUALITY_PROMPT_SEED;
    public static final int QUALITY_SEEDS = JobOptions.EVAL_SEEDS.defaultValue();

    private final OptionValues values;

    private JobSpec(OptionValues values) {
        this.values = values.requireComplete(Option::name, "");
    }

    /** The job that prunes {@code model} to {@code ratio} into {@code out}, every other option at its default. */
    public static JobSpec of(Path model, Path out, double ratio) {
        return new JobSpec(OptionValues.defaults(JobOptions.ALL).with(JobOptions.MODEL, absolutePath(model))
                .with(JobOptions.OUT, absolutePath(out)).with(PruneOptions.RATIO, ratio));
    }

    /**
     * The job of the options a user gave, the rest at their defaults: relative paths resolved against {@code cwd},
     * required options and how the given ones combine checked ({@link JobOptions#checkGiven}). {@code spelling} names
     * an option in an error as the user wrote it; {@code where} prefixes the error ("job.conf: ").
     *
     * @throws IllegalArgumentException naming what is missing or does not combine
     */
    public static JobSpec fromGiven(Map<Option<?>, ?> given, Path cwd, Function<Option<?>, String> spelling, String where) {
        try {
            JobOptions.checkGiven(given.keySet(), spelling);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + e.getMessage());
        }
        Map<Option<?>, Object> resolved = new LinkedHashMap<>();
        given.forEach((o, v) -> resolved.put(o, v instanceof Path p ? absolutePath(resolve(cwd, p, o, where)) : v));
        OptionValues v = OptionValues.of(JobOptions.ALL, resolved).requireComplete(spelling, where);
        return new JobSpec(v.with(JobOptions.MODEL, absolutePath(resolve(cwd, v.get(JobOptions.MODEL), JobOptions.MODEL, where))));
    }

    /** {@code p} against {@code cwd}; with no {@code cwd} (a job sent over HTTP) {@code p} must be absolute. */
    private static Path resolve(Path cwd, Path p, Option<?> o, String where) {
        if (cwd != null) return cwd.resolve(p);
        if (!p.isAbsolute()) {
            throw new IllegalArgumentException(where + o.name() + " = " + p + " is relative: give it as the daemon's machine sees it, absolute");
        }
        return p;
    }

    /**
     * A job sent as text (the HTTP API's {@code POST /api/v1/jobs}): a job file's keys in JSON or HOCON, checked as
     * {@link #read} checks a file; its paths must be absolute, since a request has no working directory.
     * {@code where} names the text in errors ("request body").
     */
    public static JobSpec parse(String text, com.typesafe.config.ConfigSyntax syntax, String where) {
        Config c;
        try {
            c = ConfigFactory.parseString(text, com.typesafe.config.ConfigParseOptions.defaults().setSyntax(syntax)
                    .setOriginDescription(where)).resolve();
        } catch (ConfigException e) {
            String m = e.getMessage();
            throw new IllegalArgumentException(m.startsWith(where) ? m : where + ": " + m);
        }
        return fromConfig(c, null, where);
    }

    public <T> T get(Option<T> o) {
        return values.get(o);
    }

    /** The same job with {@code o} set to {@code value} (a path made absolute); throws IllegalArgumentException when out of range. */
    public <T> JobSpec with(Option<T> o, T value) {
        @SuppressWarnings("unchecked")
        T v = value instanceof Path p ? (T) absolutePath(p) : value;
        return new JobSpec(values.with(o, v));
    }

    public String model() {
        return get(JobOptions.MODEL).toString();
    }

    public String out() {
        return get(JobOptions.OUT).toString();
    }

    public double ratio() {
        return get(PruneOptions.RATIO);
    }

    /** The precomputed conditioning to calibrate on, or null: grammar prompts. */
    public String calibFile() {
        return string(JobOptions.CALIB_FILE);
    }

    /** A finished higher-ratio run to build this ratio from, or null. */
    public String reuseFrom() {
        return string(JobOptions.REUSE_FROM);
    }

    /** With {@link #reuseFrom}: that run's stage at this ratio ({@link PruneJob#reuseFrom(Path, boolean)}). */
    public boolean reuseAtRatio() {
        return get(JobOptions.REUSE_AT_RATIO);
    }

    /** Whether the report compares base and pruned quality ({@link #evalPrompts} or the default grammar set). */
    public boolean eval() {
        return get(JobOptions.EVAL);
    }

    public String evalPrompts() {
        return string(JobOptions.EVAL_PROMPTS);
    }

    public int evalSeeds() {
        return get(JobOptions.EVAL_SEEDS);
    }

    private String string(Option<Path> o) {
        Path p = get(o);
        return p == null ? null : p.toString();
    }

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

    /** A job file's keys: each an option's name; an unknown key is an error naming the option it may have meant. */
    static JobSpec fromConfig(Config c, Path cwd, String where) {
        List<String> unknown = new ArrayList<>();
        for (String k : new TreeSet<>(c.root().keySet())) {
            Option<?> o = OptionValues.find(JobOptions.ALL, k);
            if (o == null) unknown.add("'" + k + "'" + JobSpec.meant(k));
            else if (!o.name().equals(k)) unknown.add("'" + k + "' (the key is " + o.name() + ")");
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(where + ": unknown key(s) " + String.join(", ", unknown) + "; known: "
                    + String.join(", ", JobOptions.ALL.stream().map(Option::name).toList()));
        }
        Map<Option<?>, Object> given = new LinkedHashMap<>();
        for (Option<?> o : JobOptions.ALL) {
            if (!c.hasPathOrNull(o.name())) continue;
            ConfigValue origin = c.root().get(o.name());
            try {
                given.put(o, value(c, o));
            } catch (ConfigException e) {
                // a value's error names its origin (file: line) itself
                String m = e.getMessage();
                throw new IllegalArgumentException(m.startsWith(where) ? m : where + ": " + m);
            } catch (IllegalArgumentException e) {
                String line = origin.origin().lineNumber() > 0 ? ": " + origin.origin().lineNumber() : "";
                throw new IllegalArgumentException(where + line + ": " + e.getMessage());
            }
        }
        return fromGiven(given, cwd, Option::name, where + ": ");
    }

    /** The value of {@code o} in a job file, read as its kind: typesafe-config names a wrong type with file and line. */
    private static <T> T value(Config c, Option<T> o) {
        if (c.getIsNull(o.name())) return o.check(null);
        Object v = switch (o.kind()) {
            case REAL -> c.getDouble(o.name());
            case FLOAT -> (float) c.getDouble(o.name());
            case INT -> c.getInt(o.name());
            case LONG -> c.getLong(o.name());
            case BOOL -> c.getBoolean(o.name());
            case TEXT -> o.parse(c.getString(o.name()));
        };
        return o.cast(v);
    }

    /** For an unknown key or flag: "; did you mean X" when an option's name is one or two edits away. */
    static String meant(String key) {
        String best = null;
        int bestDistance = 3;
        for (Option<?> o : JobOptions.ALL) {
            int d = editDistance(key, o.name());
            if (d < bestDistance) {
                best = o.name();
                bestDistance = d;
            }
        }
        return best == null ? "" : " (did you mean " + best + "?)";
    }

    private static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                cur[j] = Math.min(Math.min(cur[j - 1], prev[j]) + 1, prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    /** The job as saved in the daemon's registry and sent over the wire: one key per option, its name. */
    public JsonObject toJson() {
        return values.toJson();
    }

    /**
     * A job saved by {@link #toJson}, or by an older daemon in camelCase ({@code loraRank}): an absent option is its
     * default, except the linears' learning rate, which jobs saved without one trained at the adapters' rate.
     */
    public static JobSpec fromJson(JsonObject json) {
        JobSpec s = new JobSpec(OptionValues.fromJson(JobOptions.ALL, json));
        boolean ownLinearRate = json.keySet().stream().anyMatch(k -> OptionValues.find(List.<Option<?>>of(PruneOptions.LINEAR_LR), k) != null);
        return ownLinearRate ? s : s.with(PruneOptions.LINEAR_LR, s.options().lr());
    }

    /** A path as a job holds it: absolute and normalised; null stays null. */
    public static String absolute(Path p) {
        return p == null ? null : p.toAbsolutePath().normalize().toString();
    }

    private static Path absolutePath(Path p) {
        return p == null ? null : p.toAbsolutePath().normalize();
    }

    /** The PruneJob options: the method's share of the job's. */
    public PruneOptions options() {
        return PruneOptions.of(values);
    }

    private static java.util.List<String> texts(java.util.List<fastflux.shapes.Prompt> prompts) {
        return prompts.stream().map(fastflux.shapes.Prompt::text).toList();
    }

    /** The report's quality comparison, or null without one; reads (and so checks) the prompt file. */
    public PruneJob.Quality quality() {
        if (!eval()) return null;
        String evalPrompts = evalPrompts();
        if (evalPrompts != null) {
            try {
                Path f = Path.of(evalPrompts);
                Path cwd = Path.of("").toAbsolutePath();
                // The report names the file as the user would: relative to the working directory when it is under it.
                return new PruneJob.Quality(texts(PromptFile.read(f)), evalSeeds(), f.startsWith(cwd) ? cwd.relativize(f).toString() : evalPrompts);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot read evaluation prompts " + evalPrompts, e);
            }
        }
        return new PruneJob.Quality(texts(PromptSets.sample(QUALITY_PROMPTS, QUALITY_PROMPT_SEED)), evalSeeds(),
                QUALITY_PROMPTS + " grammar prompts (seed " + QUALITY_PROMPT_SEED + ")");
    }

    /**
     * What can be checked without the daemon's file system: how the options combine (each value's range is checked
     * when it is set). A client whose daemon runs on another machine checks only these (the paths are the daemon's).
     */
    public void validateOptions() {
        if (get(JobOptions.MODEL).equals(get(JobOptions.OUT))) {
            throw new IllegalArgumentException("out must differ from model");
        }
        if (reuseAtRatio() && reuseFrom() == null) {
            throw new IllegalArgumentException("reuse-at-ratio needs reuse-from: the run whose stage to export");
        }
    }

    /** Everything that can be checked before the job takes the device; the message says what is wrong. */
    public void validate() {
        validate(null);
    }

    /**
     * As {@link #validate()}, first checking every path of the job against {@code roots} (null: unconfined, as a
     * command run by its user is), before any file is touched.
     */
    public void validate(AllowedRoots roots) {
        validateOptions();
        if (roots != null) {
            roots.require("model", model());
            roots.require("out", out());
            roots.require("calib-file", calibFile());
            roots.require("reuse-from", reuseFrom());
            roots.require("eval-prompts", evalPrompts());
            roots.require("importance-from", options().importanceFrom() == null ? null : options().importanceFrom().toString());
        }
        String model = model();
        String importanceFrom = options().importanceFrom() == null ? null : options().importanceFrom().toString();
        Path m = Path.of(model);
        if (!Files.isDirectory(m)) throw new IllegalArgumentException("model directory " + model + " does not exist");
        if (!Files.isRegularFile(m.resolve("model.safetensors")) || !Files.isRegularFile(m.resolve("config.json"))) {
            throw new IllegalArgumentException("model directory " + model + " has no model.safetensors and config.json");
        }
        fastflux.model.ModelDir.readParams(m); // a malformed config.json is named at submit, not when the job starts
        if (importanceFrom != null) {
            if (!Files.isRegularFile(Path.of(importanceFrom))) {
                throw new IllegalArgumentException("importance file " + importanceFrom + " does not exist");
            }
            // read now, against the model's blocks: a wrong file is named before minutes of base-quality work
            fastflux.pruning.ImportanceReport.read(Path.of(importanceFrom), fastflux.model.ModelDir.readParams(m));
        }
        if (calibFile() != null && !Files.isRegularFile(Path.of(calibFile()))) {
            throw new IllegalArgumentException("calibration file " + calibFile() + " does not exist");
        }
        fastflux.pruning.PruneJob.requireRunnable(m, fastflux.pruning.BaseModel.hasWorld(m), options(), calibFile() != null);
        if (reuseFrom() != null && !Files.isDirectory(Path.of(reuseFrom()))) {
            throw new IllegalArgumentException("reuse-from directory " + reuseFrom() + " does not exist");
        }
        if (evalPrompts() != null && !Files.isRegularFile(Path.of(evalPrompts()))) {
            throw new IllegalArgumentException("evaluation prompt file " + evalPrompts() + " does not exist");
        }
        quality();
        // made now if missing; a job would learn it at its first checkpoint otherwise
        fastflux.model.io.OutputPaths.requireWritableDir(Path.of(out()), "out directory");
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof JobSpec s && values.equals(s.values);
    }

    @Override
    public int hashCode() {
        return Objects.hash(values);
    }

    @Override
    public String toString() {
        return "JobSpec" + values;
    }
}
