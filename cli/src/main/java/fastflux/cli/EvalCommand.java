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
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fastflux eval}: GenEval-style scores of a Shapes model on a prompt file. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "score a Shapes model with the GenEval-style judge (per category, overall, fd)")
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR",
            description = "a Shapes model directory, full or pruned (default: the embedded models/shapes-tiny)")
    Path dir;

    @Option(names = "--prompts", required = true, paramLabel = "FILE.tsv", description = "category<TAB>prompt per line")
    Path promptsFile;

    @Option(names = "--seeds", paramLabel = "K", description = "images per prompt (default 4)")
    Integer seeds;

    @Option(names = "--seed-base", paramLabel = "S",
            description = "noise seeds: image k of prompt i uses S + k + " + Evaluation.PROMPT_SEED_STRIDE + " i (default 0)")
    Long seedBase;

    @Option(names = "--steps", paramLabel = "N", description = "Euler steps (default " + ShapesModel.DEFAULT_STEPS + ")")
    Integer steps;

    @Option(names = "--guidance", paramLabel = "G", description = "classifier-free guidance scale (default " + ShapesModel.DEFAULT_GUIDANCE + ")")
    Double guidance;

    @Option(names = "--batch", paramLabel = "B", description = "images per generation batch (default 16)")
    Integer batch;

    @Option(names = "--save-images", paramLabel = "DIR", description = "write every judged image as {line:04d}-{seed}.png (32x32)")
    Path saveImages;

    @Option(names = "--against", paramLabel = "DIR",
            description = "also generate the same prompts and seeds with model DIR (e.g. the unpruned one) and report the "
                    + "fidelity to it: pixel MSE per image pair, overall and per category, PSNR, and the share of pairs that "
                    + "are the same picture (MSE < " + Fidelity.SAME + ")")
    Path against;

    @Option(names = "--out", required = true, paramLabel = "FILE.json", description = "the report")
    Path out;

    @Override
    public Integer call() throws Exception {
        Evaluation.Options d = Evaluation.Options.defaults();
        Path dir = this.dir != null ? this.dir : ShapesModel.defaultDir();
        Evaluation.Options o = d.toBuilder().seeds(seeds != null ? seeds : d.seeds())
                .seedBase(seedBase != null ? seedBase : d.seedBase()).steps(steps != null ? steps : d.steps())
                .guidance(guidance != null ? (float) (double) guidance : d.guidance()).batch(batch != null ? batch : d.batch())
                .saveImages(saveImages).build();
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
                Evaluation.Options ro = o.toBuilder().saveImages(null).build();
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
