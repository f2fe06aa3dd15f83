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

/** {@code fastflux generate}: a PNG grid of images for one prompt, upscaled so a person can see it. */
final class GenerateCommand implements Command {
    @Override
    public String name() {
        return "generate";
    }

    @Override
    public String summary() {
        return "generate images for a prompt with a Shapes model and write an upscaled PNG grid";
    }

    @Override
    public String usage() {
        return "usage: fastflux generate [--model DIR] --prompt \"...\" [--seeds N] [--seed-base S] [--steps N]\n"
                + "                        [--guidance G] [--scale X] --out FILE.png\n"
                + "  --model DIR   a Shapes model directory, full or pruned (default: the embedded models/shapes-tiny)\n"
                + "  --seeds N     images in the grid (default 4), seeds S .. S+N-1 (--seed-base, default 0)\n"
                + "  --steps N     Euler steps (default " + ShapesModel.DEFAULT_STEPS + ")\n"
                + "  --guidance G  classifier-free guidance scale (default " + ShapesModel.DEFAULT_GUIDANCE + ")\n"
                + "  --scale X     upscaling factor of the grid (default 8)";
    }

    @Override
    public int run(Args a) throws Exception {
        Path dir = a.path("model", ShapesModel.defaultDir());
        String prompt = a.required("prompt");
        int n = a.integer("seeds", 4);
        long base = a.integer("seed-base", 0);
        int steps = a.integer("steps", ShapesModel.DEFAULT_STEPS);
        float guidance = (float) a.number("guidance", ShapesModel.DEFAULT_GUIDANCE);
        int scale = a.integer("scale", 8);
        Path out = a.path("out");
        a.rejectUnknown();
        fastflux.model.io.OutputPaths.requireWritableFile(out, "--out");
        if (n < 1) throw new Args.UsageException("generate: --seeds must be >= 1");
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
