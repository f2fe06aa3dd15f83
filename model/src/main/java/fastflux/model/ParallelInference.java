package fastflux.model;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;
import java.util.function.IntFunction;

/**
 * Independent inference tasks (generation batches) on several threads, each running libtorch single-threaded.
 *
 * <p>On the Shapes model's small operations (hidden size 128, 72 tokens) libtorch's own two intra-op threads keep
 * two cores only about 160 % busy: between and inside its parallel regions one core waits. Two threads that each
 * run whole batches single-threaded fill both (docs/stack-notes.md, "libtorch threads"). The results are
 * the same bytes: a batch's images do not depend on libtorch's thread count nor on the batch size (MKL runs in
 * strict conditional-numerical-reproducibility mode, {@code MKL_CBWR=AUTO,STRICT}); {@code GenerationBatchHarness}
 * measures both.
 *
 * <p>Tasks must only read shared tensors (the model's weights) and allocate their own in managers of their own.
 * Each worker runs in inference (no-grad) mode with one libtorch thread; when they are done, the calling thread's
 * libtorch thread count is set back to what it was (setting it also sets libtorch's process-wide default, which
 * threads that first use libtorch meanwhile start from).
 */
public final class ParallelInference {
    private ParallelInference() {}

    /** System property overriding {@link #defaultThreads()}; 1 runs every task on the calling thread. */
    public static final String THREADS_PROPERTY = "fastflux.inference.threads";

    /** The property's value, else libtorch's intra-op thread count (OMP_NUM_THREADS), at least 1. */
    public static int defaultThreads() {
        String p = System.getProperty(THREADS_PROPERTY);
        if (p != null && !p.isBlank()) {
            int n;
            try {
                n = Integer.parseInt(p.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("-D" + THREADS_PROPERTY + " must be a positive integer, got '" + p + "'");
            }
            if (n < 1) throw new IllegalArgumentException("-D" + THREADS_PROPERTY + " must be >= 1, got " + n);
            return n;
        }
        Engine.getInstance(); // loads libtorch before its JNI is called
        return Math.max(1, JniUtils.getNumThreads());
    }

    /**
     * Runs {@code task} for 0..n−1 and returns the results in that order. With one thread, or one task, everything
     * runs on the calling thread as it is. {@code done} (may be null) is told, one call at a time, the index of each
     * task as it finishes. The first failure is rethrown once every worker has stopped; the remaining tasks are
     * skipped.
     */
    public static <T> List<T> map(int n, int threads, IntFunction<T> task, IntConsumer done) {
        if (n < 0) throw new IllegalArgumentException("task count must be >= 0, got " + n);
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        // A task that itself maps (nested) runs the inner tasks on its own worker rather than queueing them on the
        // pool whose workers are the ones waiting.
        int workers = IN_WORKER.get() ? 1 : Math.min(threads, n);
        if (workers <= 1) {
            List<T> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                out.add(task.apply(i));
                if (done != null) done.accept(i);
            }
            return out;
        }
        Engine.getInstance();
        Object[] results = new Object[n];
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Object lock = new Object();
        Runnable work = () -> {
            IN_WORKER.set(true);
            JniUtils.setGradMode(false);
            JniUtils.setNumThreads(1);
            try {
                for (int i = next.getAndIncrement(); i < n && failure.get() == null; i = next.getAndIncrement()) {
                    results[i] = task.apply(i);
                    if (done != null) {
                        synchronized (lock) {
                            done.accept(i);
                        }
                    }
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            }
        };
        int callerThreads = JniUtils.getNumThreads();
        try {
            List<Future<?>> running = new ArrayList<>(workers);
            ExecutorService pool = pool(workers);
            for (int w = 0; w < workers; w++) running.add(pool.submit(work));
            awaitAll(running, failure);
        } finally {
            JniUtils.setNumThreads(callerThreads);
        }
        Throwable t = failure.get();
        if (t instanceof RuntimeException r) throw r;
        if (t instanceof Error e) throw e;
        if (t != null) throw new IllegalStateException("an inference thread failed", t);
        List<T> out = new ArrayList<>(n);
        for (Object r : results) {
            @SuppressWarnings("unchecked")
            T v = (T) r;
            out.add(v);
        }
        return out;
    }

    private static ThreadPoolExecutor pool;

    private static final ThreadLocal<Boolean> IN_WORKER = ThreadLocal.withInitial(() -> false);

    /**
     * The workers: daemon threads kept for the life of the JVM, so that each keeps its own malloc arena. Threads
     * made afresh for every call each took a new arena that kept its memory (the launcher stops glibc from trimming:
     * {@code MALLOC_TRIM_THRESHOLD_}), and the main job's peak RSS went from 1.45 to 2.97 GB.
     */
    private static synchronized ExecutorService pool(int threads) {
        if (pool == null) {
            AtomicInteger id = new AtomicInteger();
            pool = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(), r -> {
                Thread t = new Thread(r, "fastflux-inference-" + id.getAndIncrement());
                t.setDaemon(true);
                return t;
            });
        } else if (pool.getMaximumPoolSize() < threads) {
            pool.setMaximumPoolSize(threads);
            pool.setCorePoolSize(threads);
        }
        return pool;
    }

    // Waits for every worker; if the caller is interrupted, the workers stop after their current task.
    private static void awaitAll(List<Future<?>> running, AtomicReference<Throwable> failure) {
        boolean interrupted = false;
        for (Future<?> f : running) {
            while (true) {
                try {
                    f.get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                    failure.compareAndSet(null, new IllegalStateException("interrupted while generating"));
                } catch (ExecutionException e) {
                    failure.compareAndSet(null, e.getCause());
                    break;
                }
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }
}
