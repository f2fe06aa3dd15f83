package fastflux.pruning;

import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.MDC;

/**
 * Which job and which phase a log line belongs to: two SLF4J MDC keys that every line of a job's work carries
 * ({@code jobId}, {@code phase}; JSON logs show them under {@code mdc}). The daemon sets them where a job's work
 * runs (its coordinator and device shard actors); work handed to other threads (the streams pipeline's shards and
 * sink) takes them along with {@link #current} and {@link #run}.
 */
public final class LogContext {
    public static final String JOB_ID = "jobId";
    public static final String PHASE = "phase";

    private LogContext() {}

    /** This thread's job context: the two keys that are set, nothing else of the MDC. */
    public static Map<String, String> current() {
        Map<String, String> out = new LinkedHashMap<>();
        for (String k : new String[] {JOB_ID, PHASE}) {
            String v = MDC.get(k);
            if (v != null) out.put(k, v);
        }
        return out;
    }

    /** Runs {@code work} with {@code context} as this thread's job context, then removes it again. */
    public static void run(Map<String, String> context, Runnable work) {
        context.forEach(MDC::put);
        try {
            work.run();
        } finally {
            context.keySet().forEach(MDC::remove);
        }
    }
}
