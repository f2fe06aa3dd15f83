package fastflux.pruning;

import java.util.Locale;

/**
 * The phases of a pruning job, each checkpointed, and their sequence, written once: BASE_QUALITY (only with a
 * quality comparison, before any block is replaced), IMPORTANCE, then per block FIT (collect and solve its least
 * squares) and SANDWICH (train it with its neighbours), EXPORT, REPORT. {@link PruneJob#runAll} walks it in one
 * process; the daemon's coordinator walks it one phase at a time, across restarts, from what the checkpoint holds.
 */
public enum JobPhase {
    BASE_QUALITY, IMPORTANCE, FIT, SANDWICH, EXPORT, REPORT;

    /** The phase as logs and the failure injector name it: base_quality, importance, fit ... */
    public String word() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Where a job stands: after {@code last} (null: just loaded from its checkpoint); {@code ordered}: the replacement
     * order is known; {@code fitted}: the next block's linear is fitted and its sandwich training is still to run;
     * {@code measureBase}: the base model's quality is still to be measured, before any block is replaced.
     */
    public record Position(JobPhase last, boolean ordered, int blocksDone, boolean fitted, int blocksTotal,
                           boolean measureBase) {
        /** The phase to run from here, or null when the job is complete. */
        public JobPhase next() {
            if (last == REPORT) return null;
            return measureBase ? BASE_QUALITY
                    : !ordered ? IMPORTANCE
                    : fitted ? SANDWICH
                    : blocksDone < blocksTotal ? FIT
                    : last == EXPORT ? REPORT : EXPORT;
        }
    }
}
