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

/** {@code fastflux fidelity}: how far one transformer's outputs lie from another's ({@link OutputFidelity}). */
final class FidelityCommand implements Command {
    static final int DEFAULT_PROMPTS = 16;

    @Override
    public String name() {
        return "fidelity";
    }

    @Override
    public String summary() {
        return "compare a pruned transformer's outputs with its base's (per sampler step and final latents; no judge)";
    }

    @Override
    public String usage() {
        return "usage: fastflux fidelity --model DIR --against BASE [--calib-file FILE] [--prompts N] [--prompt-seed S]\n"
                + "                        [--steps N] [--out report.json]\n"
                + "  Runs BASE's guided sampler trajectories and, at every step, both models' velocities at BASE's latents\n"
                + "  (relative MSE per step), then DIR's own trajectories from the same noise (relative MSE of the final\n"
                + "  latents); noise seeds " + java.util.Arrays.toString(PruneJob.heldOutNoiseSeeds()) + ", as prune's report.\n"
                + "  --model DIR        the model to measure, e.g. a pruned directory\n"
                + "  --against BASE     the model it is compared with (same config), e.g. the unpruned one\n"
                + "  --calib-file FILE  conditioning to sample (txt, y[, neg_txt, neg_y] per row, as prune --calib-file):\n"
                + "                     needed for a FLUX.1 checkpoint; default for a Shapes model: grammar prompts\n"
                + "  --prompts N        grammar prompts, or the file's first N rows (default " + DEFAULT_PROMPTS + ")\n"
                + "  --prompt-seed S    the grammar prompts' seed (default " + OutputFidelity.DEFAULT_PROMPT_SEED + ")\n"
                + "  --steps N          sampler steps (default 10, prune's calibration)\n"
                + "  --out FILE         also write the figures as JSON";
    }

    @Override
    public int run(Args a) throws Exception {
        Path dir = a.path("model");
        Path against = a.path("against");
        Path calibFile = a.path("calib-file", null);
        int prompts = a.integer("prompts", DEFAULT_PROMPTS);
        long promptSeed = (long) a.number("prompt-seed", OutputFidelity.DEFAULT_PROMPT_SEED);
        int steps = a.integer("steps", PruneOptions.defaults(0.2).calibSteps());
        Path out = a.path("out", null);
        a.rejectUnknown();
        if (out != null) fastflux.model.io.OutputPaths.requireWritableFile(out, "--out");
        if (prompts < 1) throw new Args.UsageException("fidelity: --prompts must be at least 1, got " + prompts);
        if (steps < 1) throw new Args.UsageException("fidelity: --steps must be at least 1, got " + steps);
        try (NDManager m = NDManager.newBaseManager()) {
            BaseModel base = BaseModel.load(against, m);
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
