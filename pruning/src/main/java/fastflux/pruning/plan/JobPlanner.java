package fastflux.pruning.plan;

import fastflux.pruning.OptionValues;
import java.util.ServiceLoader;

/**
 * Plans a job from its options against this machine's devices and memory, as {@code fastflux plan} does: the service
 * the daemon asks at submit ({@code fastflux.actors.JobPlanning}), provided by the command-line module, which reads
 * every checkpoint layout.
 */
public interface JobPlanner {
    /**
     * The plan of a job of {@code values} ({@code JobOptions.ALL}), the capacities this machine's (the available
     * memory or the cgroup limit for {@code cpu}) unless {@code --memory-limit} gives them.
     */
    JobPlan plan(OptionValues values);

    /** The planner this JVM provides, or null when none is on the class path. */
    static JobPlanner installed() {
        return ServiceLoader.load(JobPlanner.class).findFirst().orElse(null);
    }

    /** Whether {@code message} is a plan's refusal ({@link JobPlan#requireFits}): a job that cannot fit. */
    static boolean refusal(String message) {
        return message != null && message.startsWith("this job cannot fit: ");
    }
}
