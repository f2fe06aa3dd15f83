package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.model.FluxModel;
import fastflux.model.LoraInjector;
import fastflux.model.Module;
import fastflux.model.Param;
import fastflux.shapes.ShapesModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sandwich trainer fed by the calibration stream trains what the trainer that records every pair first trains,
 * bit for bit, given the same pairs in the same order, whatever its window.
 */
class StreamingSandwichTest {
    static final BlockId S0 = BlockId.ofSingle(0);
    static final BlockId S1 = BlockId.ofSingle(1);

    static Calibration calibration(ShapesModel sm) {
        // 4 prompts x 1 seed x 2 steps in batches of 2: 8 pairs, handed over 2 at a time
        return new Calibration(sm.flux(), PromptCalibrationSource.sample(sm, 4, 5), new Calibration.Options(2, new long[] {0}, 2, 4f));
    }

    static Calibration heldOut(ShapesModel sm) {
        return new Calibration(sm.flux(), PromptCalibrationSource.sample(sm, 2, 99), new Calibration.Options(2, new long[] {3}, 2, 4f));
    }

    static SandwichTrainer.Options options(Path spill, long windowPairs, long pairBytes) {
        // 6 steps of 2: 12 pairs drawn from 8, so the last steps run a further pass; a buffer of 3 pairs, the rest spill
        return SandwichTrainer.Options.defaults().toBuilder().steps(6).batchSize(2).lr(1e-3).linearLr(1e-3)
                .buffer(3 * pairBytes, spill).seed(7).window(windowPairs == Long.MAX_VALUE ? Long.MAX_VALUE : windowPairs * pairBytes)
                .build();
    }

    /** Two sandwiches in a row (s0, then s1 beside it, whose up block carries s0's adapter), trained one way or the other. */
    static List<SandwichTrainer.Result> prune(ShapesModel sm, NDManager m, Path spill, long windowPairs, boolean streaming) {
        FluxModel model = sm.flux();
        List<SandwichTrainer.Result> out = new ArrayList<>();
        long seed = 10;
        for (BlockId b : List.of(S0, S1)) {
            Module original = SandwichTrainerTest.replace(model, b, m, seed += 10);
            SandwichTrainer.Sandwich plan = SandwichTrainer.plan(model, b, 3);
            long pairBytes = SandwichTrainer.layout(model, plan, calibration(sm)).bytes();
            SandwichTrainer.Options o = options(spill, windowPairs, pairBytes);
            if (streaming) {
                out.add(SandwichTrainer.train(model, b, original, calibration(sm), heldOut(sm), o, m,
                        SandwichTrainer.FreeSpace.SYSTEM, CalibrationRunner.IN_PROCESS, SandwichTrainer.Feed.IN_PROCESS));
            } else {
                try (SandwichPairs pairs = SandwichTrainer.record(model, plan, original, calibration(sm), o, SandwichTrainer.FreeSpace.SYSTEM);
                     SandwichPairs held = SandwichTrainer.record(model, plan, original, heldOut(sm), o, SandwichTrainer.FreeSpace.SYSTEM)) {
                    assertTrue(pairs.spilledPairs() > 0, "some pairs spill");
                    out.add(SandwichTrainer.train(model, plan, pairs, held, o, m));
                }
            }
        }
        return out;
    }

    /** Every parameter of the model and every adapter, by name, as floats. */
    static Map<String, float[]> values(FluxModel model) {
        Map<String, float[]> out = new TreeMap<>();
        for (Param p : model.params().values()) out.put(p.name(), p.value().toFloatArray());
        for (Param p : LoraInjector.trainableParams(model).values()) out.put(p.name(), p.value().toFloatArray());
        return out;
    }

    @Test
    void theStreamingTrainerTrainsWhatTheBufferedOneTrainsBitForBit(@TempDir Path spill) {
        for (long window : new long[] {Long.MAX_VALUE, 3, 0}) {
            try (NDManager m = NDManager.newBaseManager()) {
                ShapesModel a = TinyShapes.model(SandwichTrainerTest.SIX, m, 4);
                ShapesModel b = TinyShapes.model(SandwichTrainerTest.SIX, m, 4);
                List<SandwichTrainer.Result> buffered = prune(a, m, spill, window, false);
                List<SandwichTrainer.Result> streamed = prune(b, m, spill, window, true);
                Map<String, float[]> va = values(a.flux());
                Map<String, float[]> vb = values(b.flux());
                assertEquals(va.keySet(), vb.keySet());
                assertTrue(va.keySet().stream().anyMatch(k -> k.startsWith("double_blocks.1.") && k.endsWith("lora_B")));
                for (String k : va.keySet()) assertArrayEquals(va.get(k), vb.get(k), "window " + window + ": " + k);
                for (int i = 0; i < 2; i++) {
                    SandwichTrainer.Result x = buffered.get(i);
                    SandwichTrainer.Result y = streamed.get(i);
                    assertEquals(x.trainedParams(), y.trainedParams());
                    assertArrayEquals(x.losses(), y.losses(), "window " + window);
                    assertEquals(x.initialLoss(), y.initialLoss());
                    assertEquals(x.finalLoss(), y.finalLoss());
                    assertEquals(x.pairs(), y.pairs());
                    assertArrayEquals(x.heldOutSteps(), y.heldOutSteps());
                    assertArrayEquals(x.heldOutLosses(), y.heldOutLosses());
                }
                // the B of a fresh adapter moved: training happened
                assertTrue(va.entrySet().stream().filter(e -> e.getKey().endsWith("lora_B"))
                        .anyMatch(e -> { for (float f : e.getValue()) if (f != 0) return true; return false; }));
            }
        }
    }

    @Test
    void withAWindowAsLargeAsTheStreamThePassesAreTheEpochShufflesOfATrainerThatRecordsFirst() {
        int n = 37;
        PairOrder order = new PairOrder(Long.MAX_VALUE, 11);
        for (int i = 0; i < n; i++) order.arrive();
        assertEquals(null, order.next(4), "nothing is released before the end");
        order.end();
        // the trainer's former loop: a permutation reshuffled each epoch, minibatches across epoch ends
        SplittableRandom rnd = new SplittableRandom(11);
        long[] perm = new long[n];
        int next = n;
        for (int step = 0; step < 30; step++) {
            long[] want = new long[4];
            for (int j = 0; j < 4; j++) {
                if (next == n) {
                    for (int i = 0; i < n; i++) perm[i] = i;
                    for (int i = n - 1; i > 0; i--) {
                        int k = rnd.nextInt(i + 1);
                        long t = perm[i];
                        perm[i] = perm[k];
                        perm[k] = t;
                    }
                    next = 0;
                }
                want[j] = perm[next++];
            }
            assertArrayEquals(want, order.next(4), "step " + step);
        }
    }

    @Test
    void aWindowReleasesPairsOnlyOnceItIsFullAndEveryPairOncePerPass() {
        PairOrder order = new PairOrder(5, 3);
        List<Long> first = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            order.arrive();
            assertEquals(Math.min(i + 1, 5), order.holding(), "the window fills, then holds 5");
            long[] b = order.next(2);
            if (b != null) {
                for (long x : b) {
                    assertTrue(x <= i, "pair " + x + " taken before it arrived");
                    first.add(x);
                }
            }
            assertTrue(order.waiting() < 2, "released pairs wait for a minibatch only while fewer than one");
        }
        order.end();
        assertEquals(0, order.holding());
        while (first.size() < 20) for (long x : order.next(2)) first.add(x);
        assertEquals(20, first.stream().distinct().count(), "the first pass takes every pair once");
        List<Long> second = new ArrayList<>();
        for (int k = 0; k < 10; k++) for (long x : order.next(2)) second.add(x);
        assertEquals(20, second.stream().distinct().count(), "and so does the next");
    }
}
