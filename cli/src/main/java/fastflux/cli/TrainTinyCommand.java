package fastflux.cli;

import ai.djl.ndarray.NDManager;
import fastflux.model.FluxParams;
import fastflux.shapes.Latents;
import fastflux.shapes.ShapesModel;
import fastflux.shapes.TinyTrainer;
import java.nio.file.Path;
import java.util.Set;

/** {@code fastflux train-tiny}: trains the Shapes world's FLUX from scratch or from a checkpoint. */
final class TrainTinyCommand implements Command {
    @Override
    public String name() {
        return "train-tiny";
    }

    @Override
    public String summary() {
        return "train the tiny Shapes-world FLUX (rectified flow, AdamW, EMA, resumable checkpoints)";
    }

    @Override
    public Set<String> flags() {
        return Set.of("no-text-context");
    }

    @Override
    public String usage() {
        TinyTrainer.Options d = TinyTrainer.Options.defaults();
        return "usage: fastflux train-tiny --out DIR [--minutes M] [--steps N] [--resume DIR] [--config NAME]\n"
                + "                          [--batch B] [--lr X] [--seed S] [--checkpoint-every N]\n"
                + "                          [--decay F] [--validate-every N] [--validation-prompts N] [--time-shift X]\n"
                + "                          [--no-text-context]\n"
                + "  --out DIR      model + training state are written here (config.json, model.safetensors = EMA weights,\n"
                + "                 train-state.{json,safetensors} = exact state for --resume)\n"
                + "  --minutes M    stop after M minutes of wall time (checkpointing first); 0 = no limit (default 0)\n"
                + "  --steps N|auto total optimisation steps of the run (default " + d.totalSteps() + "); the LR schedule ends there.\n"
                + "                 auto (needs --minutes): fixed from the measured rate once the constant-LR phase has used\n"
                + "                 its share (1 - decay) of the minutes, so the decay ends with the time budget\n"
                + "  --decay F      the last fraction F of the steps decays the LR to zero along a half cosine (default " + d.decayFraction() + ")\n"
                + "  --validate-every N  judge the EMA model every N steps and at the end on --validation-prompts prompts drawn\n"
                + "                 from the grammar (own seed); the model files in --out are then the best so far (0 = off, the\n"
                + "                 latest is written; default " + d.validateEvery() + ", " + d.validationPrompts() + " prompts)\n"
                + "  --time-shift X t = sigmoid(X + z), z standard normal (default " + String.format(java.util.Locale.ROOT, "%.4f", d.timeShift())
                + ", the sampler's shift mu for the\n"
                + "                 model's " + Latents.TOKENS + " image tokens: training sees noise levels as the schedule visits them; 0 = centred)\n"
                + "  --no-text-context  a fresh text encoder without the context window (each word an MLP of itself and\n"
                + "                 its neighbours): the encoder of the models before session 8\n"
                + "  --resume DIR   continue exactly from DIR's training state (options come from the state)\n"
                + "  --config NAME  architecture for a fresh run (default " + ShapesModel.CONFIG + ")\n"
                + "  defaults: batch " + d.batch() + ", lr " + d.lr() + ", warmup " + d.warmup() + ", EMA " + d.emaDecay()
                + ", prompt dropout " + d.promptDropout() + ", clip " + d.clip() + ", seed " + d.seed()
                + ", checkpoint every " + d.checkpointEvery();
    }

    @Override
    public int run(Args a) {
        Path out = a.path("out");
        double minutes = a.number("minutes", 0);
        TinyTrainer.Options d = TinyTrainer.Options.defaults();
        boolean stepsGiven = a.has("steps");
        long steps = "auto".equals(a.string("steps", "")) ? 0 : a.integer("steps", (int) d.totalSteps());
        if (steps == 0 && !(minutes > 0)) {
            throw new Args.UsageException("train-tiny: --steps auto fits the schedule to --minutes, which must then be > 0");
        }
        Path resume = a.path("resume", null);
        String config = a.string("config", ShapesModel.CONFIG);
        TinyTrainer.Options o;
        try {
            o = new TinyTrainer.Options(a.integer("batch", d.batch()), a.number("lr", d.lr()),
                    d.warmup(), d.weightDecay(), d.clip(), d.emaDecay(), d.promptDropout(), a.integer("seed", (int) d.seed()),
                    a.integer("checkpoint-every", d.checkpointEvery()), steps, a.number("decay", d.decayFraction()),
                    a.integer("validate-every", d.validateEvery()), a.integer("validation-prompts", d.validationPrompts()),
                    a.number("time-shift", d.timeShift()), !a.flag("no-text-context"));
            ShapesModel.requireShapesParams(FluxParams.named(config), "--config " + config);
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException("train-tiny: " + e.getMessage());
        }
        a.rejectUnknown();
        fastflux.model.io.OutputPaths.requireWritableDir(out, "--out");
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = resume != null ? TinyTrainer.resume(resume, m) : TinyTrainer.fresh(FluxParams.named(config), o, m);
            if (resume != null) {
                TinyTrainer.Options s = t.options();
                if (stepsGiven && steps != s.totalSteps()) {
                    // Another budget changes no step already taken while both schedules are still before their decay.
                    long before = Math.min(s.decayStart(), s.withTotalSteps(steps).decayStart());
                    if (t.step() >= before) {
                        throw new Args.UsageException("train-tiny: " + resume + " is at step " + t.step()
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
