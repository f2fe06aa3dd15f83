package fastflux.model.io;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;

/**
 * Releases a mapping the reader created and used internally, without waiting for GC. Only for
 * buffers that never escaped: touching an unmapped buffer crashes the JVM. Falls back to GC when
 * {@code sun.misc.Unsafe} is unavailable.
 */
final class Unmapper {

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

    private Unmapper() {}

    static void unmap(ByteBuffer mapped) {
        if (INVOKE_CLEANER == null || mapped == null || !mapped.isDirect()) {
            return;
        }
        try {
            INVOKE_CLEANER.invoke(UNSAFE, mapped);
        } catch (ReflectiveOperationException | RuntimeException e) {
            // left to GC
        }
    }
}
