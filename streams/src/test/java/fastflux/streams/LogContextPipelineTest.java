package fastflux.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.pruning.Calibration;
import fastflux.pruning.CalibrationConsumer;
import fastflux.pruning.CalibrationRunner;
import fastflux.pruning.LogContext;
import fastflux.shapes.ShapesModel;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.slf4j.MDC;

/** The pipeline's sink thread works in its caller's job context (log lines name the job), and counts the items. */
class LogContextPipelineTest extends StreamsTestSystem {
    /** Records, per batch, the thread that folded it and the job context it saw there. */
    static final class Witness implements CalibrationConsumer {
        final List<String> seen = Collections.synchronizedList(new ArrayList<>());

        @Override
        public void endBatch(Calibration.Batch batch) {
            seen.add(Thread.currentThread().getName() + " " + LogContext.current());
        }
    }

    @Test
    void theSinkFoldsInTheCallersJobContextAndTheItemsAreCountedAsInProcess() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Metrics.globalRegistry.add(registry);
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 7);
            Calibration cal = CalibrationPipelineTest.calibration(model); // 6 prompts x 2 seeds: 12 items in 4 batches
            Witness piped = new Witness();
            Map<String, String> job = Map.of(LogContext.JOB_ID, "job-0042", LogContext.PHASE, "fit");
            LogContext.run(job, () -> new CalibrationPipeline(mat, new CalibrationPipeline.Options(2, 2, 1))
                    .run(cal, piped, List.of(BlockId.ofDouble(1))));
            assertEquals(4, piped.seen.size());
            for (String s : piped.seen) assertEquals("fastflux-calibration-sink {jobId=job-0042, phase=fit}", s);
            assertEquals(Map.of(), LogContext.current(), "the caller's context is removed after the work");
            assertEquals(12.0, registry.get("fastflux.calibration.items").counter().count());

            Witness here = new Witness();
            CalibrationRunner.IN_PROCESS.run(cal, here, List.of(BlockId.ofDouble(1)));
            assertEquals(List.of("main {}", "main {}", "main {}", "main {}"), here.seen.stream()
                    .map(s -> s.replaceAll("^\\S+", "main")).toList(), "in-process, no job context here");
            assertEquals(24.0, registry.get("fastflux.calibration.items").counter().count());
        } finally {
            Metrics.globalRegistry.remove(registry);
            MDC.clear();
        }
    }
}
