package fastflux.pruning;

import org.nd4j.linalg.factory.Nd4j;

/**
 * ND4J shares the machine with libtorch, and each brings its own OpenMP runtime. Both honour
 * OMP_NUM_THREADS at load time; this pins ND4J explicitly as well, so that a JVM started without
 * the variable does not run two thread pools the size of the machine.
 */
final class Nd4jRuntime {
    private static volatile boolean pinned;

    private Nd4jRuntime() {}

    static void pin() {
        if (pinned) {
            return;
        }
        synchronized (Nd4jRuntime.class) {
            if (pinned) {
                return;
            }
            int threads = Runtime.getRuntime().availableProcessors();
            String omp = System.getenv("OMP_NUM_THREADS");
            if (omp != null) {
                try {
                    threads = Math.max(1, Math.min(threads, Integer.parseInt(omp.trim())));
                } catch (NumberFormatException ignored) {
                    // keep the processor count
                }
            }
            Nd4j.getEnvironment().setMaxThreads(threads);
            Nd4j.getEnvironment().setMaxMasterThreads(threads);
            pinned = true;
        }
    }
}
