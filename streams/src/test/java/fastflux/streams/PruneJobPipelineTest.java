package fastflux.streams;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDManager;
import fastflux.model.Param;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import fastflux.pruning.ImportanceScorer;
import fastflux.pruning.PruneJob;
import fastflux.pruning.PruneOptions;
import fastflux.pruning.PruneState;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.stream.Materializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PruneJob with its BRLL passes through the pipeline (2 shards) replaces the same blocks with the same linears. */
class PruneJobPipelineTest {
    /** Two of five blocks, least squares only: the second fit runs through a model that already has a replaced block. */
    static PruneOptions options() {
        return PruneOptions.defaults(0.4).with(PruneOptions.IMPORTANCE, ImportanceScorer.OUTPUT_MSE)
                .with(PruneOptions.SANDWICH_TRAINING, false).with(PruneOptions.CALIB_PROMPTS, 6).with(PruneOptions.CALIB_STEPS, 2)
                .with(PruneOptions.ST_STEPS, 0).with(PruneOptions.LORA_RANK, 4).with(PruneOptions.LORA_ALPHA, 4f)
                .with(PruneOptions.BUFFER_BYTES, 1L << 20);
    }

    @Test
    void theJobThroughTwoShardsEqualsTheInProcessJob(@TempDir Path tmp) {
        Path base = tmp.resolve("base");
        try (NDManager m = NDManager.newBaseManager()) {
            TinyShapes.model(m, 3).save(base);
        }
        ActorSystem system = ActorSystem.create("prune-job-pipeline-test");
        try {
            CalibrationPipeline pipeline = new CalibrationPipeline(Materializer.matFromSystem(system),
                    new CalibrationPipeline.Options(2, 2, 1));
            Result want = run(base, tmp.resolve("in-process"), null);
            Result got = run(base, tmp.resolve("pipeline"), pipeline);
            assertEquals(want.blocks(), got.blocks());
            assertEquals(want.residuals(), got.residuals());
            assertEquals(want.weights().keySet(), got.weights().keySet());
            want.weights().forEach((name, w) -> assertArrayEquals(w, got.weights().get(name), name));
        } finally {
            system.terminate();
        }
    }

    record Result(List<String> blocks, List<Map<String, Double>> residuals, Map<String, float[]> weights) {}

    static Result run(Path base, Path out, CalibrationPipeline pipeline) {
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = new PruneJob(base, out, options(), PruneJob.Listener.NONE, m);
            if (pipeline != null) job.calibrationRunner(pipeline);
            job.begin();
            job.replaceBlocks();
            List<PruneState.BlockResult> done = job.state().completed();
            Map<String, float[]> weights = new TreeMap<>();
            for (Replacement r : PrunedModels.replacements(job.flux())) {
                String prefix = r.block().name() + ".";
                for (Map.Entry<String, Param> e : job.flux().params().entrySet()) {
                    if (e.getKey().startsWith(prefix)) weights.put(e.getKey(), e.getValue().value().toFloatArray());
                }
            }
            return new Result(done.stream().map(r -> r.block().name()).toList(),
                    done.stream().map(PruneState.BlockResult::residuals).toList(), weights);
        }
    }
}
