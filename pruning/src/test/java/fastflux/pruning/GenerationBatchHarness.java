package fastflux.pruning;

import ai.djl.ndarray.NDManager;
import fastflux.shapes.Image;
import fastflux.shapes.Prompt;
import fastflux.shapes.PromptSets;
import fastflux.shapes.ShapesModel;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Not a test: times the importance probe's generation at several batch sizes and thread counts and checks that every
 * image is the same bytes whatever the batch and threads. Arguments: model dir, images, then settings
 * {@code BATCH:THREADS} (images per batch, {@link fastflux.model.ParallelInference} threads).
 */
public final class GenerationBatchHarness {
    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        int n = Integer.parseInt(args[1]);
        try (NDManager m = NDManager.newBaseManager()) {
            ai.djl.pytorch.jni.JniUtils.setGradMode(false);
            ShapesModel model = ShapesModel.load(dir, m);
            List<Prompt> prompts = PromptSets.sample(n, Calibration.Options.DEFAULT_PROMPT_SEED + 1);
            List<String> texts = prompts.stream().map(Prompt::text).toList();
            long[] seeds = new long[n];
            for (int i = 0; i < n; i++) seeds[i] = i;
            List<Image> first = null;
            for (int a = 2; a < args.length; a++) {
                String[] bt = args[a].split(":");
                int batch = Integer.parseInt(bt[0]);
                int threads = Integer.parseInt(bt[1]);
                long t0 = System.nanoTime();
                List<Image> images = model.generate(texts, seeds, ShapesModel.DEFAULT_STEPS, ShapesModel.DEFAULT_GUIDANCE, batch,
                        threads, null);
                double s = (System.nanoTime() - t0) / 1e9;
                String same = "";
                if (first == null) {
                    first = images;
                } else {
                    int differ = 0;
                    double maxAbs = 0;
                    for (int i = 0; i < n; i++) {
                        float[] x = first.get(i).rgb(), y = images.get(i).rgb();
                        if (!Arrays.equals(x, y)) differ++;
                        for (int j = 0; j < x.length; j++) maxAbs = Math.max(maxAbs, Math.abs(x[j] - y[j]));
                    }
                    same = String.format(", %d of %d images differ from batch %s, max |diff| %.3g", differ, n, args[2], maxAbs);
                }
                int hash = 1;
                for (Image im : images) hash = 31 * hash + Arrays.hashCode(im.rgb());
                System.out.printf("batch %d, %d threads: %.1f s, %.1f ms per image, images hash %08x%s%n", batch, threads, s, 1000 * s / n, hash, same);
            }
        }
    }
}
