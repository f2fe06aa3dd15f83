package fastflux.cli;

import ai.djl.ndarray.NDManager;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import fastflux.shapes.EvalReport;
import fastflux.shapes.Evaluation;
import fastflux.shapes.Fidelity;
import fastflux.shapes.Image;
import fastflux.shapes.Prompt;
import fastflux.shapes.PromptFile;
import fastflux.shapes.ShapesModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** {@code fastflux eval}: GenEval-style scores of a Shapes model on a prompt file. */
final class EvalCommand implements Command {
    @Override
    public String name() {
        return "eval";
    }

    @Override
    public String summary() {
        return "score a Shapes model with the GenEval-style judge (per category, overall, fd)";
    }

    @Override
    public String usage() {
        Evaluation.Options d = Evaluation.Options.defaults();
        return "usage: fastflux eval [--model DIR] --prompts FILE.tsv [--seeds K] [--seed-base S] [--steps N]\n"
                + "                    [--guidance G] [--save-images DIR] [--against DIR] --out report.json\n"
                + "  --model DIR        a Shapes model directory, full or pruned (default: the embedded models/shapes-tiny)\n"
                + "  --prompts FILE     category<TAB>prompt per line\n"
                + "  --seeds K          images per prompt (default " + d.seeds() + ")\n"
                + "  --seed-base S      noise seeds: image k of prompt i uses S + k + " + Evaluation.PROMPT_SEED_STRIDE + " i (default " + d.seedBase() + ")\n"
                + "  --steps N          Euler steps (default " + d.steps() + ")\n"
                + "  --guidance G       classifier-free guidance scale (default " + d.guidance() + ")\n"
                + "  --save-images DIR  write every judged image as {line:04d}-{seed}.png (32x32)\n"
                + "  --against DIR      also generate the same prompts and seeds with model DIR (e.g. the unpruned one) and\n"
                + "                     report the fidelity to it: pixel MSE per image pair, overall and per category,\n"
                + "                     PSNR, and the share of pairs that are the same picture (MSE < " + Fidelity.SAME + ")";
    }

    @Override
    public int run(Args a) throws Exception {
        Evaluation.Options d = Evaluation.Options.defaults();
        Path dir = a.path("model", ShapesModel.defaultDir());
        Path promptsFile = a.path("prompts");
        Path out = a.path("out");
        Evaluation.Options o = new Evaluation.Options(a.integer("seeds", d.seeds()), a.integer("seed-base", (int) d.seedBase()),
                a.integer("steps", d.steps()), (float) a.number("guidance", d.guidance()), a.integer("batch", d.batch()),
                a.path("save-images", null));
        Path against = a.path("against", null);
        a.rejectUnknown();
        fastflux.model.io.OutputPaths.requireWritableFile(out, "--out");
        if (o.saveImages() != null) fastflux.model.io.OutputPaths.requireWritableDir(o.saveImages(), "--save-images");
        List<Prompt> prompts = PromptFile.read(promptsFile);
        if (prompts.isEmpty()) throw new IllegalArgumentException(promptsFile + " holds no prompts");
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = ShapesModel.load(dir, m);
            ShapesModel reference = against == null ? null : ShapesModel.load(against, m); // a bad DIR fails before any work
            ProgressBar bar = new ProgressBar("eval", System.err);
            long t0 = System.nanoTime();
            Evaluation.Result r = Evaluation.run(model, prompts, o, (done, total) -> bar.update(done, total, "images"));
            bar.done();
            EvalReport report = r.report();
            JsonObject json = report.toJsonObject();
            if (reference != null) {
                ProgressBar refBar = new ProgressBar("reference", System.err);
                Evaluation.Options ro = new Evaluation.Options(o.seeds(), o.seedBase(), o.steps(), o.guidance(), o.batch(), null);
                List<Image> refImages = Evaluation.run(reference, prompts, ro, (done, total) -> refBar.update(done, total, "images")).images();
                refBar.done();
                json.add("fidelity", Fidelity.of(prompts, o.seeds(), refImages, r.images()).toJson(against.toString()));
            }
            String text = new GsonBuilder().serializeNulls().setPrettyPrinting().create().toJson(json);
            if (out.getParent() != null) Files.createDirectories(out.getParent());
            Files.writeString(out, text);
            System.out.println(text);
            System.out.printf("%d images in %.1f s; report written to %s%n", report.images(), (System.nanoTime() - t0) / 1e9, out);
        }
        return 0;
    }
}
