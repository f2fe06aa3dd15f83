package fastflux.pruning;

import fastflux.model.BlockTap;

/**
 * Accumulates statistics over the calibration stream, one batch at a time. Arrays it is shown are valid only
 * during the call (they belong to the step's or the batch's manager and are freed when it ends): a consumer
 * keeps sums, never arrays.
 */
public interface CalibrationConsumer {
    /** Whether this consumer needs batch {@code index} at all; skipped batches are not computed. */
    default boolean wants(int batchIndex) {
        return true;
    }

    default void beginBatch(Calibration.Batch batch) {}

    /**
     * Called at each sampler step before the transformer call, with that call's inputs (both guidance halves as
     * the sampler runs them). A consumer may run extra forwards here (the model must be left as it was).
     */
    default void onStep(Calibration.Step step) {}

    /** The tap on the step's transformer call; it sees the conditional half only. */
    default BlockTap tap(Calibration.Step step) {
        return BlockTap.NONE;
    }

    default void endBatch(Calibration.Batch batch) {}
}
