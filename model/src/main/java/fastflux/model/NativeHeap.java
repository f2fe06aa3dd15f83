package fastflux.model;

import java.lang.management.ManagementFactory;
import javax.management.ObjectName;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gives the C heap's free memory back to the system between a job's phases. Tensors live outside the Java heap, and
 * glibc keeps what they free in the arena of the thread that freed it, up to the launcher's trim threshold per arena
 * (docs/stack-notes.md): within a phase that spares page faults, across phases it would add one phase's leftovers to
 * the next one's peak (docs/plan.md, "A real-width pruning run").
 */
public final class NativeHeap {
    private static final Logger LOG = LoggerFactory.getLogger(NativeHeap.class);
    private static volatile boolean unavailable;

    private NativeHeap() {}

    /** Trims the C heap through the JVM's {@code System.trim_native_heap} command; does nothing where it is missing. */
    public static void trim(String after) {
        if (unavailable) return;
        try {
            Object r = ManagementFactory.getPlatformMBeanServer().invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"), "systemTrimNativeHeap",
                    new Object[] {new String[0]}, new String[] {String[].class.getName()});
            LOG.debug("after {}: {}", after, String.valueOf(r).trim());
        } catch (Exception | LinkageError e) {
            unavailable = true;
            LOG.debug("the JVM cannot trim the C heap: {}", e.toString());
        }
    }
}
