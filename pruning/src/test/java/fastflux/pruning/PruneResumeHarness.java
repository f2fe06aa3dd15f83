package fastflux.pruning;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Runs PruneJobTest's resume scenario {@code args[0]} times in one JVM and prints the max relative difference of
 * the resumed vs the uninterrupted pruned model each time (0 = bit-identical). {@code -Dharness.gcThread=true}
 * collects garbage every 2 ms, so direct buffers are freed at any point of a step.
 */
public final class PruneResumeHarness {
    public static void main(String[] args) throws Exception {
        fastflux.model.GcPressure.startIf("harness.gcThread", 2);
        int n = Integer.parseInt(args[0]);
        int differing = 0;
        for (int i = 0; i < n; i++) {
            Path tmp = Files.createTempDirectory("prune-resume");
            Path base = PruneJobTest.baseModel(tmp.resolve("base"));
            Path straight = tmp.resolve("straight");
            try (NDManager m = NDManager.newBaseManager()) {
                new PruneJob(base, straight, PruneJobTest.options(0.34), PruneJob.Listener.NONE, m).runAll(null, 1, null);
            }
            Path resumed = tmp.resolve("resumed");
            try (NDManager m = NDManager.newBaseManager()) {
                PruneJob job = new PruneJob(base, resumed, PruneJobTest.options(0.34), PruneJob.Listener.NONE, m);
                job.begin();
                job.order();
                job.replaceOne();
            }
            try (NDManager m = NDManager.newBaseManager()) {
                new PruneJob(base, resumed, PruneJobTest.options(0.34), PruneJob.Listener.NONE, m).runAll(null, 1, null);
            }
            double rel = fastflux.model.io.SafetensorsCompare.maxRelativeDifference(
                    straight.resolve("model.safetensors"), resumed.resolve("model.safetensors"));
            if (rel != 0) differing++;
            System.out.println("RUN " + i + " rel " + rel);
        }
        System.out.println("DIFFERING " + differing + " of " + n);
    }
}
