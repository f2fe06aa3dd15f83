package fastflux.cli;

import fastflux.pruning.OptionValues;
import fastflux.pruning.plan.DeviceMemory;
import fastflux.pruning.plan.JobPlan;
import fastflux.pruning.plan.JobPlanner;

/**
 * The plan the daemon makes at submit ({@code fastflux.actors.JobPlanning}): {@code fastflux plan}'s, for every
 * checkpoint layout, against the daemon machine's memory. Registered in META-INF/services.
 */
public final class CheckpointJobPlanner implements JobPlanner {
    @Override
    public JobPlan plan(OptionValues values) {
        return JobPlans.plan(values, null, null, null, DeviceMemory.system());
    }
}
