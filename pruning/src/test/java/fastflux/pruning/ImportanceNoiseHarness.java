package fastflux.pruning;

import ai.djl.ndarray.NDManager;
import fastflux.shapes.ShapesModel;
import java.nio.file.Path;
import java.util.Comparator;

/**
 * Not a test: measures how much the fd-align ranking moves with its probe set. Arguments: model dir, probe prompts,
 * prompt seed, seed base, and optionally sampler steps (default the probe's). Prints every block's fd, align, score and rank, least important first.
 */
public final class ImportanceNoiseHarness {
    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        int prompts = Integer.parseInt(args[1]);
        long promptSeed = Long.parseLong(args[2]);
        long seedBase = Long.parseLong(args[3]);
        ImportanceScorer.GenerationOptions d = ImportanceScorer.GenerationOptions.defaults();
        int steps = args.length > 4 ? Integer.parseInt(args[4]) : d.steps();
        ImportanceScorer.GenerationOptions o = new ImportanceScorer.GenerationOptions(prompts, promptSeed, seedBase,
                steps, d.guidance(), d.batch(), d.referenceImages(), d.referenceSeed(), d.alpha(), d.beta());
        try (NDManager m = NDManager.newBaseManager()) {
            ai.djl.pytorch.jni.JniUtils.setGradMode(false);
            ShapesModel model = ShapesModel.load(dir, m);
            long t0 = System.nanoTime();
            ImportanceReport r = ImportanceScorer.byGeneration(model, o, (i, b) -> System.err.print("."));
            System.out.printf("%nprompts %d seed %d base %d steps %d: baseline fd %.4f align %.4f (%.0f s)%n", prompts, promptSeed,
                    seedBase, steps, r.baselineFd(), r.baselineAlign(), (System.nanoTime() - t0) / 1e9);
            r.entries().stream().sorted(Comparator.comparingInt(ImportanceReport.Entry::rank)).forEach(e ->
                    System.out.printf("%2d %-16s fd %.4f align %.4f score %.4f%n", e.rank(), e.block(), e.fd(), e.align(), e.score()));
        }
    }
}
