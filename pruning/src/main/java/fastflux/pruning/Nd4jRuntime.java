package fastflux.pruning;

import org.nd4j.linalg.factory.Nd4j;

/**
 * ND4J shares the machine with libtorch, and each brings its own OpenMP runtime. Both take their thread count
 * from OMP_NUM_THREADS when they load, which is what bounds them: ND4J (1.0.0-M2.1) ignores a later
 * {@code setMaxThreads} (measured: pinned to one core, {@code maxThreads()} stays at the hardware's 2 after
 * {@code setMaxThreads(1)}), so {@code bin/fastflux} sets the variable from {@code nproc}, which honours the CPU
 * affinity. What can be set here, the master threads, is set to the same bound.
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
