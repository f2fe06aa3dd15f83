package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import fastflux.shapes.ShapesModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link SandwichTrainer.StepListener} sees every step of a sandwich training as it runs, buffered or streaming: each
 * step's training loss in step order and each held-out measurement, the same numbers as the result's; and it only
 * observes: the trained values are those of a training nobody listened to.
 */
class SandwichStepListenerTest {
    private record Step(int step, int steps, double loss, double held) {}

    @Test
    void everyStepIsReportedInOrderAndTheTrainingIsUnchanged(@TempDir Path spill) {
        for (boolean streaming : new boolean[] {false, true}) {
            try (NDManager m = NDManager.newBaseManager()) {
                ShapesModel quiet = TinyShapes.model(SandwichTrainerTest.SIX, m, 4);
                ShapesModel heard = TinyShapes.model(SandwichTrainerTest.SIX, m, 4);
                StreamingSandwichTest.prune(quiet, m, spill, 3, streaming);
                List<Step> steps = new ArrayList<>();
                List<SandwichTrainer.Result> results = SandwichTrainer.observed((step, total, loss, held) ->
                        steps.add(new Step(step, total, loss, held)), () -> StreamingSandwichTest.prune(heard, m, spill, 3, streaming));

                Map<String, float[]> a = StreamingSandwichTest.values(quiet.flux());
                Map<String, float[]> b = StreamingSandwichTest.values(heard.flux());
                assertEquals(a.keySet(), b.keySet());
                for (String k : a.keySet()) assertArrayEquals(a.get(k), b.get(k), (streaming ? "streaming: " : "buffered: ") + k);

                // the two trainings one after the other: per training its step losses, then its held-out ones
                int at = 0;
                for (SandwichTrainer.Result r : results) {
                    List<Double> train = new ArrayList<>();
                    List<Integer> heldSteps = new ArrayList<>();
                    List<Double> held = new ArrayList<>();
                    int expected = r.losses().length + r.heldOutLosses().length;
                    for (Step s : steps.subList(at, at + expected)) {
                        assertEquals(r.losses().length, s.steps());
                        if (!Double.isNaN(s.loss())) {
                            assertEquals(train.size(), s.step(), "in step order");
                            train.add(s.loss());
                        }
                        if (!Double.isNaN(s.held())) {
                            heldSteps.add(s.step());
                            held.add(s.held());
                        }
                    }
                    at += expected;
                    assertArrayEquals(r.losses(), train.stream().mapToDouble(Double::doubleValue).toArray());
                    assertArrayEquals(r.heldOutSteps(), heldSteps.stream().mapToInt(Integer::intValue).toArray());
                    assertArrayEquals(r.heldOutLosses(), held.stream().mapToDouble(Double::doubleValue).toArray());
                    assertTrue(r.heldOutLosses().length > 1, "held-out losses measured during training");
                }
                assertEquals(steps.size(), at, "nothing else reported");
            }
        }
    }
}
