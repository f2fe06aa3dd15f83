package fastflux.streams;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/** Single threads for native work, with libtorch's grad mode off (it is per thread, and on in a new one). */
final class ShardThreads {
    private ShardThreads() {}

    /**
     * One daemon thread named {@code name}. Grad mode off makes the model take its inference path (in-place ops,
     * no autograd records), which is what calibration wants and what the in-process path runs with.
     */
    static ExecutorService single(String name) {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(() -> {
                ai.djl.engine.Engine.getInstance();
                ai.djl.pytorch.jni.JniUtils.setGradMode(false);
                r.run();
            }, name);
            t.setDaemon(true);
            return t;
        });
    }

    /** Stops the thread and waits for the task it is running: its arrays may be freed only afterwards. */
    static void stop(ExecutorService thread) {
        thread.shutdownNow();
        try {
            if (!thread.awaitTermination(10, TimeUnit.MINUTES)) {
                throw new IllegalStateException("a shard thread did not stop within 10 minutes");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
