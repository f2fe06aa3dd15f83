package fastflux.model;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Direct buffers that are freed when the caller is done with them instead of when the collector gets round to
 * it. A direct buffer's memory is malloc'd outside the Java heap and only released by its Cleaner after a GC
 * has found the buffer unreachable; code that makes one per batch while producing little Java garbage holds
 * every batch's buffer until the next GC, so native memory grows with the length of the run (measured: about
 * 100 kB per calibration batch, see docs/stack-notes.md, "Native memory that only a GC frees"). Only for buffers that never escape: using a
 * freed buffer reads freed memory. Falls back to the GC where {@code sun.misc.Unsafe} is unavailable.
 */
public final class DirectBuffers {
    private static final Object UNSAFE;
    private static final Method INVOKE_CLEANER;

    static {
        Object unsafe = null;
        Method invokeCleaner = null;
        try {
            Class<?> c = Class.forName("sun.misc.Unsafe");
            Field f = c.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            unsafe = f.get(null);
            invokeCleaner = c.getMethod("invokeCleaner", ByteBuffer.class);
        } catch (ReflectiveOperationException | RuntimeException e) {
            unsafe = null;
            invokeCleaner = null;
        }
        UNSAFE = unsafe;
        INVOKE_CLEANER = invokeCleaner;
    }

    private DirectBuffers() {}

    /** A direct buffer of {@code bytes} bytes in native byte order. */
    public static ByteBuffer allocate(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
    }

    /** Whether {@link #free} releases memory at once (false: it is left to the GC). */
    public static boolean freesAtOnce() {
        return INVOKE_CLEANER != null;
    }

    /**
     * Releases a direct buffer ({@link #allocate}d, or a file mapping) now; it must not be used afterwards:
     * touching a freed or unmapped buffer reads freed memory or crashes the JVM.
     */
    public static void free(ByteBuffer buffer) {
        if (INVOKE_CLEANER == null || buffer == null || !buffer.isDirect()) {
            return;
        }
        try {
            INVOKE_CLEANER.invoke(UNSAFE, buffer);
        } catch (ReflectiveOperationException | RuntimeException e) {
            // left to the GC
        }
    }
}
