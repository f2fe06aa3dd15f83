package fastflux.pruning;

import fastflux.model.BlockId;
import java.util.Collection;

/**
 * How a calibration pass reaches a consumer that only taps blocks (BRLL's accumulators, the held-out residual
 * meters): in the calling thread ({@link #IN_PROCESS}, {@link Calibration#run}), or through the backpressured
 * Pekko Streams pipeline of the {@code streams} module, which computes the trajectories on a chain of model
 * shards and replays the tapped activations to the consumer in batch order. Both give the consumer the same
 * batches, steps and activations in the same order, so the sums it folds are the same.
 */
@FunctionalInterface
public interface CalibrationRunner {
    CalibrationRunner IN_PROCESS = (calibration, consumer, tapped) -> calibration.run(consumer);

    /**
     * Runs {@code consumer} over the calibration stream (the batches it {@linkplain CalibrationConsumer#wants
     * wants}); {@code tapped} are the blocks whose activations it reads, the only ones a remote runner ships.
     */
    void run(Calibration calibration, CalibrationConsumer consumer, Collection<BlockId> tapped);
}
