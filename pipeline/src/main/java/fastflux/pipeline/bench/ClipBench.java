package fastflux.pipeline.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Param;
import fastflux.pipeline.RgbImage;
import fastflux.pipeline.clip.ClipFrechet;
import fastflux.pipeline.clip.ClipImageProcessor;
import fastflux.pipeline.clip.ClipVisionConfig;
import fastflux.pipeline.clip.ClipVisionEncoder;
import java.io.PrintStream;
import java.util.Random;

/**
 * Figures for docs/clip.md: the cost of the CLIP-feature Fréchet distance at a given embedding width, and a
 * ViT-L/14 vision tower (random weights, real sizes) preprocessing and encoding 224-pixel images.
 *
 * <pre>
 * java -cp ... fastflux.pipeline.bench.ClipBench fd 768 1000
 * java -cp ... fastflux.pipeline.bench.ClipBench vit-l14 4
 * </pre>
 */
public final class ClipBench {
    private ClipBench() {}

    public static void main(String[] args) {
        if (args.length == 3 && args[0].equals("fd")) {
            frechet(Integer.parseInt(args[1]), Integer.parseInt(args[2]), System.out);
        } else if (args.length == 2 && args[0].equals("vit-l14")) {
            vitL14(Integer.parseInt(args[1]), System.out);
        } else {
            System.err.println("usage: ClipBench fd DIM IMAGES | ClipBench vit-l14 IMAGES");
            System.exit(2);
        }
    }

    /** Times the fits and the distance of two random sets of {@code n} {@code d}-dim features. */
    public static void frechet(int d, int n, PrintStream out) {
        Random r = new Random(36);
        double[][] a = new double[n][d], b = new double[n][d];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < d; j++) {
                a[i][j] = r.nextGaussian();
                b[i][j] = r.nextGaussian() + 0.01;
            }
        }
        // CPU time beside wall time: the work is one thread, and a shared machine stretches the wall clock.
        java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        long c0 = threads.getCurrentThreadCpuTime();
        long t0 = System.nanoTime();
        double fd = ClipFrechet.distance(a, b);
        long t1 = System.nanoTime();
        long c1 = threads.getCurrentThreadCpuTime();
        out.printf("Frechet distance of two sets of %d %d-dim features: %.4f in %.1f s wall, %.1f s CPU (fits and "
                + "distance, one thread)%n", n, d, fd, (t1 - t0) / 1e9, (c1 - c0) / 1e9);
    }

    /** Preprocesses {@code n} random 640×480 images and encodes them with a random-weight ViT-L/14 vision tower. */
    public static void vitL14(int n, PrintStream out) {
        ClipVisionConfig config = ClipVisionConfig.clipL();
        ClipImageProcessor processor = ClipImageProcessor.clipL();
        ClipVisionEncoder encoder = new ClipVisionEncoder(config);
        Random r = new Random(36);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            long params = 0;
            for (Param p : encoder.params().values()) {
                float[] v = new float[(int) p.shape().size()];
                for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * 0.02);
                p.set(m.create(v, p.shape()));
                params += v.length;
            }
            int side = config.imageSize(), per = 3 * side * side;
            long t0 = System.nanoTime();
            float[] flat = new float[n * per];
            for (int i = 0; i < n; i++) {
                byte[] rgb = new byte[640 * 480 * 3];
                r.nextBytes(rgb);
                System.arraycopy(processor.pixelValues(new RgbImage(640, 480, rgb)), 0, flat, i * per, per);
            }
            long t1 = System.nanoTime();
            try (NDManager call = m.newSubManager()) {
                NDArray pixels = call.create(flat, new Shape(n, 3, side, side));
                try (ClipVisionEncoder.Output o = encoder.forward(pixels)) {
                    long t2 = System.nanoTime();
                    out.printf("ViT-L/14 vision tower (%,d parameters, random): %d images 640x480 -> pixel values %s "
                                    + "in %.2f s, hidden %s, pooled %s in %.1f s%n", params, n, pixels.getShape(),
                            (t1 - t0) / 1e9, o.hidden().getShape(), o.pooled().getShape(), (t2 - t1) / 1e9);
                }
            }
        }
    }
}
