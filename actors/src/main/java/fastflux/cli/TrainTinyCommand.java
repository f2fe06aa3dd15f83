package fastflux.cli;

import ai.djl.ndarray.NDManager;
import fastflux.model.FluxParams;
import fastflux.shapes.ShapesModel;
import fastflux.shapes.TinyTrainer;
import java.nio.file.Path;

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
    public String usage() {
        TinyTrainer.Options d = TinyTrainer.Options.defaults();
        return "usage: fastflux train-tiny --out DIR [--minutes M] [--steps N] [--resume DIR] [--config NAME]\n"
                + "                          [--batch B] [--lr X] [--seed S] [--checkpoint-every N]\n"
                + "  --out DIR      model + training state are written here (config.json, model.safetensors = EMA weights,\n"
                + "                 train-state.{json,safetensors} = exact state for --resume)\n"
                + "  --minutes M    stop after M minutes of wall time (checkpointing first); 0 = no limit (default 0)\n"
                + "  --steps N      total optimisation steps of the run (default 2000)\n"
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
        long steps = a.integer("steps", 2000);
        Path resume = a.path("resume", null);
        String config = a.string("config", ShapesModel.CONFIG);
        TinyTrainer.Options d = TinyTrainer.Options.defaults();
        TinyTrainer.Options o = new TinyTrainer.Options(a.integer("batch", d.batch()), a.number("lr", d.lr()),
                d.warmup(), d.weightDecay(), d.clip(), d.emaDecay(), d.promptDropout(), a.integer("seed", (int) d.seed()),
                a.integer("checkpoint-every", d.checkpointEvery()));
        a.rejectUnknown();
        if (o.batch() < 1) throw new Args.UsageException("train-tiny: --batch must be >= 1");
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = resume != null ? TinyTrainer.resume(resume, m) : TinyTrainer.fresh(FluxParams.named(config), o, m);
            if (resume != null) System.out.println("resuming from " + resume + " at step " + t.step());
            ProgressBar bar = new ProgressBar("train", System.out);
            t.train(steps, minutes, out, (step, total, loss, rate, left) ->
                    bar.update(step, total, String.format("loss %.4f  %.2f steps/s  %s left", loss, rate, ProgressBar.duration(left))));
            bar.done();
            System.out.println("stopped at step " + t.step() + "; model and state in " + out);
        }
        return 0;
    }
}
