package fastflux.actors;

import ai.djl.ndarray.NDManager;
import fastflux.model.FluxParams;
import fastflux.pruning.JobOptions;
import fastflux.pruning.PruneJob;
import fastflux.pruning.PruneOptions;
import fastflux.shapes.ShapesModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A tiny random Shapes model (2 double + 4 single blocks, hidden 32) and a micro job over it, for CPU tests. */
public final class TinyJobs {
    static final FluxParams PARAMS =
            new FluxParams(48, 48, 64, 64, 32, 2.0, 2, 1, 2, new int[] {4, 6, 6}, 10000, true, false).withDepth(2, 4);

    /** The largest relative difference between a model's bytes and another model file, for failure messages. */
    public static double relative(byte[] reference, Path other, Path tmp) throws Exception {
        Path ref = tmp.resolve("reference-" + System.nanoTime() + ".safetensors");
        Files.write(ref, reference);
        return fastflux.model.io.SafetensorsCompare.maxRelativeDifference(ref, other);
    }

    private TinyJobs() {}

    /** Writes the model to {@code dir}; also a main so that process tests and docs can make one. */
    public static Path baseModel(Path dir) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel.random(PARAMS, m, 3).save(dir);
        }
        return dir;
    }

    /** Two of six blocks, few calibration prompts and steps: seconds on a CPU. */
    static JobSpec spec(Path model, Path out) {
        return JobSpec.of(model, out, 0.34).with(PruneOptions.IMPORTANCE, "output-mse").with(PruneOptions.CALIB_PROMPTS, 6)
                .with(PruneOptions.CALIB_STEPS, 2).with(PruneOptions.ST_STEPS, 3).with(PruneOptions.LORA_RANK, 4)
                .with(PruneOptions.LORA_ALPHA, 4f).with(JobOptions.EVAL, false);
    }

    static String jobFile(Path model, Path out) {
        return "model = \"" + model + "\"\nout = \"" + out + "\"\nratio = 0.34\nimportance = output-mse\n"
                + "calib-prompts = 6\ncalib-steps = 2\nst-steps = 3\nlora-rank = 4\nlora-alpha = 4\nseed = 0\neval = off\n";
    }

    /** The same job straight through PruneJob, in this thread: the reference result. */
    static byte[] reference(JobSpec spec) throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = new PruneJob(Path.of(spec.model()), Path.of(spec.out()), spec.options(), PruneJob.Listener.NONE, m);
            job.begin();
            job.order();
            job.replaceBlocks();
            job.export();
        }
        return Files.readAllBytes(Path.of(spec.out()).resolve("model.safetensors"));
    }

    public static void main(String[] args) throws Exception {
        if (args[0].equals("thread")) { // the same, on a fresh thread (as the shard runs)
            Thread t = new Thread(() -> {
                ai.djl.engine.Engine.getInstance();
                ai.djl.pytorch.jni.JniUtils.setGradMode(false);
                try {
                    main(java.util.Arrays.copyOfRange(args, 1, args.length));
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            t.start();
            t.join();
            return;
        }
        if (args[0].equals("phase")) { // phase BASE OUT importance|block|export: one phase in this JVM
            JobSpec spec = spec(Path.of(args[1]), Path.of(args[2]));
            try (NDManager m = NDManager.newBaseManager()) {
                PruneJob job = new PruneJob(Path.of(spec.model()), Path.of(spec.out()), spec.options(), PruneJob.Listener.NONE, m);
                job.begin();
                for (int i = 3; i < args.length; i++) {
                    switch (args[i]) {
                        case "importance" -> job.order();
                        case "block" -> job.replaceOne();
                        case "fit" -> job.fitNext();
                        default -> job.export();
                    }
                }
            }
            return;
        }
        if (args[0].equals("reference")) {
            reference(spec(Path.of(args[1]), Path.of(args[2])));
            return;
        }
        Path dir = baseModel(Path.of(args[0]));
        System.out.println("tiny model (6 blocks, hidden 32) written to " + dir);
    }
}
