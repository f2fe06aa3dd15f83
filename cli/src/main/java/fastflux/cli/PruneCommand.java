package fastflux.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.actors.InProcessNode;
import fastflux.actors.JobSpec;
import fastflux.actors.Protocol;
import fastflux.pruning.PruneJob;
import fastflux.pruning.PruneOptions;
import fastflux.shapes.ShapesModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.function.Consumer;

/**
 * {@code fastflux prune}: the FastFLUX method end to end. The job runs on the daemon's actors, in this process
 * ({@link InProcessNode}: node, coordinator, device shard; no remoting), and the command exits when it ends.
 */
final class PruneCommand implements Command {
    static final int QUALITY_PROMPTS = JobSpec.QUALITY_PROMPTS;
    static final long QUALITY_PROMPT_SEED = JobSpec.QUALITY_PROMPT_SEED;

    @Override
    public String name() {
        return "prune";
    }

    @Override
    public String summary() {
        return "prune a model with FastFLUX (importance, least-squares linears, sandwich training) and export it";
    }

    @Override
    public Set<String> flags() {
        return Set.of("no-st", "no-eval", "reuse-at-ratio");
    }

    @Override
    public String usage() {
        PruneOptions d = PruneOptions.defaults(0.2);
        return "usage: fastflux prune [--model DIR] --ratio R --out DIR [--importance-from FILE]\n"
                + "         [--order importance|start2end|end2start] [--mode linear|delete] [--no-st] [--sandwich 1|3|5]\n"
                + "         " + MethodFlags.synopsis() + " [--calib-file FILE]\n"
                + "         [--reuse-from DIR [--reuse-at-ratio]] [--eval-prompts FILE.tsv] [--eval-seeds K] [--no-eval]\n"
                + "  --model DIR        the full model (default: the embedded models/shapes-tiny)\n"
                + "  --ratio R          fraction of blocks to replace, 0 < R < 1: round(R x blocks), at least one\n"
                + "  --out DIR          the pruned model directory; report.md/json, importance.json/png and state/ go here;\n"
                + "                     a run killed midway resumes from its last completed block when started again\n"
                + "  --importance-from  reuse an importance.json instead of computing it\n"
                + "  --order            replacement order (default importance: least important first)\n"
                + "  --mode             linear: BRLL least-squares linear (default); delete: shortcut only\n"
                + "  --no-st            keep the least-squares linears untrained (no sandwich training)\n"
                + "  --sandwich W       sandwich width: 1 = the linear alone, 3 = nearest kept block each side (default), 5 = two\n"
                + MethodFlags.help(d) + "\n"
                + "  --calib-file FILE  calibrate on precomputed conditioning instead of grammar prompts (a checkpoint whose\n"
                + "                     text encoders are not run here): a safetensors file with txt [N, L, context_in_dim] and\n"
                + "                     y [N, vec_in_dim] (one row per prompt, F32/F16/BF16), and for a model without guidance\n"
                + "                     embedding the empty prompt's neg_txt [1, L, context_in_dim] and neg_y [1, vec_in_dim];\n"
                + "                     each prompt runs with 2 noise seeds; excludes --calib-prompts\n"
                + "  --reuse-from DIR   build this ratio from a finished higher-ratio run in DIR (no training; kept blocks get\n"
                + "                     that run's final adapters, trained for its ratio: on Shapes as good as training from\n"
                + "                     30 % to 20 %, 0.14 worse from 30 % to 5 %, see the README's Table 6)\n"
                + "  --reuse-at-ratio   with --reuse-from: that run's components as they were when it had replaced this\n"
                + "                     ratio's blocks (its stage, state/stage-NNNN.json): the model a run to this ratio\n"
                + "                     trains, byte for byte, without training it again\n"
                + "  --eval-prompts F   the report's quality prompts (default " + QUALITY_PROMPTS + " grammar prompts, seed " + QUALITY_PROMPT_SEED + ")\n"
                + "  --eval-seeds K     images per quality prompt (default 2); --no-eval skips the quality comparison";
    }

    @Override
    public int run(Args a) throws Exception {
        PruneOptions d = PruneOptions.defaults(0.2);
        Path base = a.path("model", ShapesModel.defaultDir());
        String ratioText = a.required("ratio");
        Path out = a.path("out");
        double ratio;
        try {
            ratio = Double.parseDouble(ratioText);
        } catch (NumberFormatException e) {
            throw new Args.UsageException("prune: --ratio must be a number, got '" + ratioText + "'");
        }
        String mode = a.string("mode", "linear");
        if (!mode.equals("linear") && !mode.equals("delete")) throw new Args.UsageException("prune: --mode must be linear or delete");
        String width = a.string("sandwich", Integer.toString(d.sandwichWidth()));
        JobSpec spec;
        try {
            MethodFlags m = MethodFlags.parse(a, d);
            spec = new JobSpec(JobSpec.absolute(base), JobSpec.absolute(out), ratio, m.importance(),
                    a.string("order", "importance"), mode, !a.flag("no-st"), Integer.parseInt(width), m.calibPrompts(),
                    m.calibSteps(), m.stSteps(), m.lr(), m.linearLr(), m.loraRank(), m.loraAlpha(), m.seed(),
                    JobSpec.absolute(a.path("importance-from", null)), JobSpec.absolute(a.path("calib-file", null)),
                    JobSpec.absolute(a.path("reuse-from", null)), a.flag("reuse-at-ratio"), !a.flag("no-eval"),
                    JobSpec.absolute(a.path("eval-prompts", null)), a.integer("eval-seeds", JobSpec.QUALITY_SEEDS));
            spec.options(); // the options' own checks (ratio, importance, order, width, ...) are usage errors
        } catch (NumberFormatException e) {
            throw new Args.UsageException("prune: --sandwich must be 1, 3 or 5, got '" + width + "'");
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException("prune: " + e.getMessage());
        }
        if (spec.calibFile() != null && a.has("calib-prompts")) {
            throw new Args.UsageException("prune: --calib-file and --calib-prompts exclude each other (the file's rows are the prompts)");
        }
        a.rejectUnknown();
        if (base.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
            throw new Args.UsageException("prune: --out must differ from --model");
        }
        spec.validate(); // what the node checks again at submit: missing model, files, prompt file
        ProgressLine progress = new ProgressLine();
        InProcessNode.Outcome end = InProcessNode.run(spec, InProcessNode.config(), progress);
        progress.done();
        switch (end.state()) {
            case "done" -> {
                JsonObject report = JsonParser.parseString(Files.readString(out.resolve("report.json"))).getAsJsonObject();
                System.out.println(fastflux.pruning.PruneReport.summary(report));
                System.out.println("pruned model, report.md and report.json in " + out);
                return 0;
            }
            case "interrupted" -> {
                System.err.println("fastflux prune: stopped by " + end.detail() + " after the running phase; its checkpoint is in "
                        + out.resolve("state") + ": run the same command again to resume");
                return end.detail().equals("SIGINT") ? 130 : 143;
            }
            default -> throw new IllegalStateException(end.detail());
        }
    }

    /** Prints phase changes and a progress bar per phase, from the node's progress snapshots. */
    static final class ProgressLine implements Consumer<Protocol.Progress> {
        private final ProgressBar bar = new ProgressBar("prune", System.err);
        private String last = "";

        @Override
        public void accept(Protocol.Progress p) {
            if (p.state() != fastflux.actors.JobState.RUNNING || p.phase().isEmpty() || p.phase().equals(Protocol.Progress.STARTING)) return;
            String key = p.phase() + " " + p.block();
            if (!key.equals(last)) {
                bar.done();
                System.err.println("[" + p.phase() + "] " + p.block() + " " + p.detail());
                last = key;
            }
            bar.update(p.done(), Math.max(p.total(), 1), p.phase() + " " + p.block() + " " + p.detail());
        }

        void done() {
            bar.done();
        }
    }
}
