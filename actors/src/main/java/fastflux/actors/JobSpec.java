package fastflux.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import fastflux.model.Replacement;
import fastflux.pruning.PruneJob;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;

/** A pruning job as it travels from the client to the daemon: plain values, paths absolute. */
public record JobSpec(String model, String out, double ratio, String importance, String order, String mode,
                      boolean sandwichTraining, int sandwich, int calibPrompts, int calibSteps, int stSteps,
                      double lr, int loraRank, double loraAlpha, long seed) implements WireMessage {

    static final Set<String> KEYS = Set.of("model", "out", "ratio", "importance", "order", "mode", "sandwich-training",
            "sandwich", "calib-prompts", "calib-steps", "st-steps", "lr", "lora-rank", "lora-alpha", "seed");

    /** Reads a job file (HOCON); relative paths are resolved against {@code cwd}. Unknown keys are errors. */
    public static JobSpec read(Path file, Path cwd) {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException("job file " + file + " does not exist");
        Config c;
        try {
            c = ConfigFactory.parseFile(file.toFile()).resolve();
        } catch (ConfigException e) {
            throw new IllegalArgumentException("job file " + file + ": " + e.getMessage());
        }
        return fromConfig(c, cwd, file.toString());
    }

    static JobSpec fromConfig(Config c, Path cwd, String where) {
        Set<String> unknown = new TreeSet<>();
        c.root().keySet().forEach(k -> { if (!KEYS.contains(k)) unknown.add(k); });
        if (!unknown.isEmpty()) throw new IllegalArgumentException(where + ": unknown key(s) " + unknown + "; known: " + new TreeSet<>(KEYS));
        PruneJob.Options d = PruneJob.Options.defaults(0.2);
        try {
            for (String k : new String[] {"model", "out", "ratio"}) {
                if (!c.hasPath(k)) throw new IllegalArgumentException(where + ": missing required key '" + k + "'");
            }
            return new JobSpec(cwd.resolve(c.getString("model")).toAbsolutePath().normalize().toString(),
                    cwd.resolve(c.getString("out")).toAbsolutePath().normalize().toString(), c.getDouble("ratio"),
                    str(c, "importance", d.importance()), str(c, "order", "importance"), str(c, "mode", "linear"),
                    c.hasPath("sandwich-training") ? c.getBoolean("sandwich-training") : d.sandwichTraining(),
                    num(c, "sandwich", d.sandwichWidth()), num(c, "calib-prompts", d.calibPrompts()),
                    num(c, "calib-steps", d.calibSteps()), num(c, "st-steps", d.stSteps()),
                    c.hasPath("lr") ? c.getDouble("lr") : d.lr(), num(c, "lora-rank", d.loraRank()),
                    c.hasPath("lora-alpha") ? c.getDouble("lora-alpha") : d.loraAlpha(),
                    c.hasPath("seed") ? c.getLong("seed") : d.seed());
        } catch (ConfigException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage());
        }
    }

    private static String str(Config c, String k, String def) {
        return c.hasPath(k) ? c.getString(k) : def;
    }

    private static int num(Config c, String k, int def) {
        return c.hasPath(k) ? c.getInt(k) : def;
    }

    /** The PruneJob options; throws IllegalArgumentException naming the bad value. */
    public PruneJob.Options options() {
        Replacement.Mode m = switch (mode) {
            case "linear" -> Replacement.Mode.LINEAR;
            case "delete" -> Replacement.Mode.DELETE;
            default -> throw new IllegalArgumentException("mode must be linear or delete, got '" + mode + "'");
        };
        return new PruneJob.Options(ratio, importance, null, PruneJob.Order.parse(order), m, sandwichTraining, sandwich,
                calibPrompts, calibSteps, stSteps, lr, loraRank, (float) loraAlpha, PruneJob.Options.defaults(ratio).bufferBytes(), seed);
    }

    /** Everything that can be checked before the job takes the device; the message says what is wrong. */
    public void validate() {
        options();
        Path m = Path.of(model);
        if (!Files.isDirectory(m)) throw new IllegalArgumentException("model directory " + model + " does not exist");
        if (!Files.isRegularFile(m.resolve("model.safetensors")) || !Files.isRegularFile(m.resolve("config.json"))) {
            throw new IllegalArgumentException("model directory " + model + " has no model.safetensors and config.json");
        }
        if (m.toAbsolutePath().normalize().equals(Path.of(out).toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("out must differ from model");
        }
    }
}
