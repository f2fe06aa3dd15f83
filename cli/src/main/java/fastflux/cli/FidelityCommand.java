package fastflux.cli;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.GsonBuilder;
import fastflux.model.FluxModel;
import fastflux.model.ModelDir;
import fastflux.pruning.BaseModel;
import fastflux.pruning.Calibration;
import fastflux.pruning.CalibrationSource;
import fastflux.pruning.OutputFidelity;
import fastflux.pruning.PrecomputedCalibrationSource;
import fastflux.pruning.PruneJob;
import fastflux.pruning.PromptCalibrationSource;
import fastflux.pruning.PruneOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fastflux fidelity}: how far one transformer's outputs lie from another's ({@link OutputFidelity}). */
@Command(name = "fidelity", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"compare a pruned transformer's outputs with its base's (per sampler step and final latents; no judge)",
            "Runs BASE's guided sampler trajectories and, at every step, both models' velocities at BASE's latents (relative "
                    + "MSE per step), then DIR's own trajectories from the same noise (relative MSE of the final latents); "
                    + "the noise seeds of prune's report."})
final class FidelityCommand implements Callable<Integer> {
    static final int DEFAULT_PROMPTS = 16;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "the model to measure, e.g. a pruned directory")
    Path dir;

    @Option(names = "--against", required = true, paramLabel = "BASE",
            description = "the model it is compared with (same config), e.g. the unpruned one")
    Path against;

    @Option(names = "--calib-file", paramLabel = "FILE",
            description = "conditioning to sample (txt, y[, neg_txt, neg_y] per row, as prune --calib-file): needed for a "
                    + "FLUX.1 checkpoint; default for a Shapes model: grammar prompts")
    Path calibFile;

    @Option(names = "--prompts", paramLabel = "N", defaultValue = "" + DEFAULT_PROMPTS,
            description = "grammar prompts, or the file's first N rows (default ${DEFAULT-VALUE})")
    int prompts;

    @Option(names = "--prompt-seed", paramLabel = "S", defaultValue = "" + OutputFidelity.DEFAULT_PROMPT_SEED,
            description = "the grammar prompts' seed (default ${DEFAULT-VALUE})")
    long promptSeed;

    @Option(names = "--steps", paramLabel = "N", description = "sampler steps (default: prune's --calib-steps default)")
    Integer steps;

    @Option(names = "--out", paramLabel = "FILE", description = "also write the figures as JSON")
    Path out;

    @Override
    public Integer call() throws Exception {
        int steps = this.steps != null ? this.steps : PruneOptions.CALIB_STEPS.defaultValue();
        if (out != null) fastflux.model.io.OutputPaths.requireWritableFile(out, "--out");
        if (prompts < 1) throw new UsageException("--prompts must be at least 1, got " + prompts);
        if (steps < 1) throw new UsageException("--steps must be at least 1, got " + steps);
        try (NDManager m = NDManager.newBaseManager()) {
            BaseModel base = BaseModel.load(against, m, BaseModel.LoadOptions.FP32);
            CalibrationSource source;
            PrecomputedCalibrationSource file = null;
            if (calibFile != null) {
                file = base.openCalibrationFile(calibFile);
                if (prompts > file.size()) {
                    int rows = file.size();
                    file.close();
                    throw new IllegalArgumentException(calibFile + " holds " + rows + " rows; --prompts " + prompts
                            + " asks for more");
                }
                source = CalibrationSource.firstRows(file, prompts);
            } else if (base.hasWorld()) {
                source = PromptCalibrationSource.sample(base.world("prompt calibration"), prompts, promptSeed);
            } else {
                throw new IllegalArgumentException(against + " is a FLUX.1 transformer checkpoint (no text_encoder.*): "
                        + "give its conditioning with --calib-file FILE");
            }
            try {
                FluxModel model = ModelDir.load(dir, m, DataType.FLOAT32, Set.of());
                Calibration.Options co = Calibration.Options.defaults().withSteps(steps).withSeeds(PruneJob.heldOutNoiseSeeds());
                long t0 = System.nanoTime();
                OutputFidelity.Result r = OutputFidelity.measure(model, new Calibration(base.flux(), source, co));
                System.out.printf(Locale.ROOT, "%s against %s (%s; %d items, %d steps):%n", dir, against, r.source(),
                        r.items(), r.steps());
                System.out.printf(Locale.ROOT, "  per step (velocities at the base's latents): relative MSE %.5f%n",
                        r.stepError());
                StringBuilder per = new StringBuilder("  by step, noisiest first:");
                for (double e : r.perStep()) per.append(String.format(Locale.ROOT, " %.5f", e));
                System.out.println(per);
                System.out.printf(Locale.ROOT, "  final latents (each model's own trajectory): relative MSE %.5f%n",
                        r.latentError());
                System.out.printf(Locale.ROOT, "%.1f s%n", (System.nanoTime() - t0) / 1e9);
                if (out != null) {
                    if (out.getParent() != null) Files.createDirectories(out.getParent());
                    com.google.gson.JsonObject json = r.toJson();
                    json.addProperty("model", dir.toString());
                    json.addProperty("against", against.toString());
                    Files.writeString(out, new GsonBuilder().setPrettyPrinting().create().toJson(json));
                }
            } finally {
                if (file != null) file.close();
            }
        }
        return 0;
    }
}
