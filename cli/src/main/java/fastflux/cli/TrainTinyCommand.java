package fastflux.cli;

import ai.djl.ndarray.NDManager;
import fastflux.model.FluxParams;
import fastflux.shapes.Latents;
import fastflux.shapes.ShapesModel;
import fastflux.shapes.TinyTrainer;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code fastflux train-tiny}: trains the Shapes world's FLUX from scratch or from a checkpoint. */
@Command(name = "train-tiny", mixinStandardHelpOptions = true, sortOptions = false, defaultValueProvider = TrainTinyCommand.Defaults.class,
        description = "train the tiny Shapes-world FLUX (rectified flow, AdamW, EMA, resumable checkpoints)",
        footer = "%nWarm-up, EMA decay, prompt dropout, gradient clip and weight decay are TinyTrainer's defaults.")
final class TrainTinyCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--out", required = true, paramLabel = "DIR",
            description = "model + training state are written here (config.json, model.safetensors = EMA weights, "
                    + "train-state.{json,safetensors} = exact state for --resume)")
    Path out;

    @Option(names = "--minutes", paramLabel = "M",
            description = "stop after M minutes of wall time (checkpointing first); 0 = no limit (default ${DEFAULT-VALUE})")
    double minutes;

    @Option(names = "--steps", paramLabel = "N|auto",
            description = "total optimisation steps of the run (default ${DEFAULT-VALUE}); the LR schedule ends there. "
                    + "auto (needs --minutes): fixed from the measured rate once the constant-LR phase has used its share "
                    + "(1 - decay) of the minutes, so the decay ends with the time budget")
    String stepsText;

    @Option(names = "--decay", paramLabel = "F",
            description = "the last fraction F of the steps decays the LR to zero along a half cosine (default ${DEFAULT-VALUE})")
    double decay;

    @Option(names = "--validate-every", paramLabel = "N",
            description = "judge the EMA model every N steps and at the end on --validation-prompts prompts drawn from the "
                    + "grammar (own seed); the model files in --out are then the best so far (0 = off, the latest is "
                    + "written; default ${DEFAULT-VALUE})")
    int validateEvery;

    @Option(names = "--validation-prompts", paramLabel = "N", description = "prompts of each validation (default ${DEFAULT-VALUE})")
    int validationPrompts;

    @Option(names = "--time-shift", paramLabel = "X",
            description = "t = sigmoid(X + z), z standard normal (default ${DEFAULT-VALUE}, the sampler's shift mu for the "
                    + "model's " + Latents.TOKENS + " image tokens: training sees noise levels as the schedule visits them; "
                    + "0 = centred)")
    double timeShift;

    @Option(names = "--no-text-context",
            description = "a fresh text encoder without the context window (the MLP that gives each word its neighbours): "
                    + "word and position embeddings only")
    boolean noTextContext;

    @Option(names = "--resume", paramLabel = "DIR", description = "continue exactly from DIR's training state (options come from the state)")
    Path resume;

    @Option(names = "--model-config", paramLabel = "NAME", description = "architecture for a fresh run, a named config "
            + "(default ${DEFAULT-VALUE})")
    String config;

    @Option(names = "--config", hidden = true, paramLabel = "NAME")
    String oldConfig;

    @Option(names = "--batch", paramLabel = "B", description = "batch size (default ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--lr", paramLabel = "X", description = "AdamW learning rate after warm-up (default ${DEFAULT-VALUE})")
    double lr;

    @Option(names = "--seed", paramLabel = "S", description = "seed of initialisation, prompts and noise (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--checkpoint-every", paramLabel = "N", description = "steps between checkpoints (default ${DEFAULT-VALUE})")
    int checkpointEvery;

    /** The defaults are TinyTrainer's own, each exactly (a double by its full text). */
    static final class Defaults implements IDefaultValueProvider {
        @Override
        public String defaultValue(ArgSpec arg) {
            TinyTrainer.Options d = TinyTrainer.Options.defaults();
            if (!(arg instanceof OptionSpec o)) return null;
            return switch (o.longestName()) {
                case "--minutes" -> "0";
                case "--steps" -> Long.toString(d.totalSteps());
                case "--decay" -> Double.toString(d.decayFraction());
                case "--validate-every" -> Integer.toString(d.validateEvery());
                case "--validation-prompts" -> Integer.toString(d.validationPrompts());
                case "--time-shift" -> Double.toString(d.timeShift());
                case "--model-config" -> ShapesModel.CONFIG;
                case "--batch" -> Integer.toString(d.batch());
                case "--lr" -> Double.toString(d.lr());
                case "--seed" -> Long.toString(d.seed());
                case "--checkpoint-every" -> Integer.toString(d.checkpointEvery());
                default -> null;
            };
        }
    }

    @Override
    public Integer call() {
        if (oldConfig != null) throw new UsageException("--config NAME is now --model-config NAME");
        TinyTrainer.Options d = TinyTrainer.Options.defaults();
        boolean stepsGiven = spec.commandLine().getParseResult().hasMatchedOption("--steps");
        long steps;
        try {
            steps = "auto".equals(stepsText) ? 0 : Integer.parseInt(stepsText);
        } catch (NumberFormatException e) {
            throw new UsageException("--steps must be a whole number or auto, got '" + stepsText + "'");
        }
        if (steps == 0 && !(minutes > 0)) {
            throw new UsageException("--steps auto fits the schedule to --minutes, which must then be > 0");
        }
        TinyTrainer.Options o;
        try {
            o = d.toBuilder().batch(batch).lr(lr).seed(seed).checkpointEvery(checkpointEvery).totalSteps(steps)
                    .decayFraction(decay).validation(validateEvery, validationPrompts).timeShift(timeShift)
                    .textContext(!noTextContext).build();
            ShapesModel.requireShapesParams(FluxParams.named(config), "--model-config " + config);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        fastflux.model.io.OutputPaths.requireWritableDir(out, "--out");
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = resume != null ? TinyTrainer.resume(resume, m) : TinyTrainer.fresh(FluxParams.named(config), o, m);
            if (resume != null) {
                TinyTrainer.Options s = t.options();
                if (stepsGiven && steps != s.totalSteps()) {
                    // Another budget changes no step already taken while both schedules are still before their decay.
                    long before = Math.min(s.decayStart(), s.toBuilder().totalSteps(steps).build().decayStart());
                    if (t.step() >= before) {
                        throw new UsageException(resume + " is at step " + t.step()
                                + ", inside the learning-rate decay of a " + s.totalSteps() + "-step schedule; --steps "
                                + (steps == 0 ? "auto" : steps) + " would change steps already taken");
                    }
                    t.changeTotalSteps(steps);
                } else {
                    steps = s.totalSteps();
                }
                System.out.println("resuming from " + resume + " at step " + t.step() + " of " + (steps > 0 ? steps : "auto"));
            }
            ProgressBar bar = new ProgressBar("train", System.out);
            t.onValidation(v -> System.out.printf("%nvalidation at step %d (%.1f min): overall %.3f (best %.3f at step %d)%n",
                    v.step(), v.minutes(), v.overall(), t.best().overall(), t.best().step()));
            t.train(steps, minutes, out, (step, total, loss, rate, left) ->
                    bar.update(step, total, String.format("loss %.4f  lr %.2e  %.2f steps/s  %s left", loss,
                            t.options().lrAt(step - 1), rate, ProgressBar.duration(left))));
            bar.done();
            TinyTrainer.Validation best = t.best();
            System.out.println("stopped at step " + t.step() + "; state in " + out + "; model files: "
                    + (best == null ? "the latest EMA weights" : String.format("the best EMA weights (step %d, validation overall %.3f)", best.step(), best.overall())));
        }
        return 0;
    }
}
