package fastflux.pruning.plan;

/** A job its plan cannot fit: the device and the phase that do not, in the message and as fields. */
public final class PlanRefusedException extends IllegalArgumentException {
    private final String device;
    private final JobPlan.Phase phase;

    public PlanRefusedException(String device, JobPlan.Phase phase, String message) {
        super(message);
        this.device = device;
        this.phase = phase;
    }

    public String device() {
        return device;
    }

    public JobPlan.Phase phase() {
        return phase;
    }
}
