package fastflux.cli;

import ai.djl.ndarray.NDManager;
import fastflux.shapes.Image;
import fastflux.shapes.Png;
import fastflux.shapes.PromptGrammar;
import fastflux.shapes.ShapesModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fastflux generate}: a PNG grid of images for one prompt, upscaled so a person can see it. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "generate images for a prompt with a Shapes model and write an upscaled PNG grid")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR",
            description = "a Shapes model directory, full or pruned (default: the embedded models/shapes-tiny)")
    Path dir;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "the prompt, in the Shapes grammar")
    String prompt;

    @Option(names = "--seeds", paramLabel = "N", defaultValue = "4", description = "images in the grid, seeds S .. S+N-1 (default ${DEFAULT-VALUE})")
    int n;

    @Option(names = "--seed-base", paramLabel = "S", defaultValue = "0", description = "the first seed (default ${DEFAULT-VALUE})")
    long base;

    @Option(names = "--steps", paramLabel = "N", description = "Euler steps (default " + ShapesModel.DEFAULT_STEPS + ")")
    Integer steps;

    @Option(names = "--guidance", paramLabel = "G", description = "classifier-free guidance scale (default " + ShapesModel.DEFAULT_GUIDANCE + ")")
    Double guidance;

    @Option(names = "--scale", paramLabel = "X", defaultValue = "8", description = "upscaling factor of the grid (default ${DEFAULT-VALUE})")
    int scale;

    @Option(names = "--out", required = true, paramLabel = "FILE.png", description = "the grid")
    Path out;

    @Override
    public Integer call() throws Exception {
        Path dir = this.dir != null ? this.dir : ShapesModel.defaultDir();
        int steps = this.steps != null ? this.steps : ShapesModel.DEFAULT_STEPS;
        float guidance = this.guidance != null ? (float) (double) this.guidance : ShapesModel.DEFAULT_GUIDANCE;
        fastflux.model.io.OutputPaths.requireWritableFile(out, "--out");
        if (n < 1) throw new UsageException("--seeds must be >= 1");
        if (!prompt.isEmpty()) PromptGrammar.parse(prompt); // names what is outside the grammar
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = ShapesModel.load(dir, m);
            long[] seeds = new long[n];
            for (int i = 0; i < n; i++) seeds[i] = base + i;
            List<Image> images = model.generate(new ArrayList<>(Collections.nCopies(n, prompt)), seeds, steps, guidance, 16);
            Png.writeGrid(images, Math.min(n, 8), scale, out);
            System.out.println("wrote " + n + " images for \"" + prompt + "\" to " + out);
        }
        return 0;
    }
}
