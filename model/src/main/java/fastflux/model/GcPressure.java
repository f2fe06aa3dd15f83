package fastflux.model;

/**
 * A daemon thread that runs the garbage collector every few milliseconds: under it, native memory that is only
 * kept alive by a Java object (a direct buffer behind a tensor, a freed scalar that autograd still reads) is
 * freed at any point of a step, so the bugs of that kind show up at once instead of once in hundreds of steps.
 * For harnesses and debugging runs, never for production work.
 */
public final class GcPressure {
    private GcPressure() {}

    /** Starts the collecting thread when {@code -D}{@code property}{@code =true}; returns whether it did. */
    public static boolean startIf(String property, long periodMillis) {
        if (!Boolean.getBoolean(property)) return false;
        Thread gc = new Thread(() -> {
            while (true) {
                System.gc();
                try {
                    Thread.sleep(periodMillis);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "fastflux-gc-pressure");
        gc.setDaemon(true);
        gc.start();
        return true;
    }
}
