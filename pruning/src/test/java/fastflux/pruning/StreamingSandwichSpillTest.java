package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.model.FluxModel;
import fastflux.model.Module;
import fastflux.shapes.ShapesModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The streaming trainer's first pass trains on the pairs as the stream hands them over, never reading the buffer or
 * the spill back; when the pairs exceed the buffer and the spill's bound, further passes train on a seeded sample kept
 * within it, the same for the same seed.
 */
class StreamingSandwichSpillTest {
    /** What a feed saw while the stream ran. */
    static final class Seen {
        long readsWhileStreaming;
        long mostOnDisk;
        long handOvers;
        StreamingSandwich trainer;
    }

    /** The in-process feed, looking at the trainer after each hand-over. */
    static SandwichTrainer.Feed watching(Seen seen, Path spill) {
        return trainer -> {
            seen.trainer = trainer;
            SandwichTrainer.Fed in = SandwichTrainer.Feed.IN_PROCESS.open(trainer);
            return new SandwichTrainer.Fed() {
                @Override
                public void offer(List<float[]> records) {
                    in.offer(records);
                    seen.handOvers++;
                    seen.readsWhileStreaming += trainer.keptReads();
                    try {
                        seen.mostOnDisk = Math.max(seen.mostOnDisk, PairReservoirTest.bytesOnDisk(spill));
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }

                @Override
                public SandwichTrainer.Result finish() {
                    return in.finish();
                }

                @Override
                public void close() {
                    in.close();
                }
            };
        };
    }

    /** s0's sandwich on 8 pairs (2 a hand-over), window 0, 6 steps of 2; buffer and spill as given, in pairs. */
    static SandwichTrainer.Result train(ShapesModel sm, NDManager m, Path spill, long bufferPairs, long spillPairs, long seed,
                                        Seen seen) {
        FluxModel model = sm.flux();
        BlockId b = StreamingSandwichTest.S0;
        Module original = SandwichTrainerTest.replace(model, b, m, 20);
        SandwichTrainer.Sandwich plan = SandwichTrainer.plan(model, b, 3);
        long pairBytes = SandwichTrainer.layout(model, plan, StreamingSandwichTest.calibration(sm)).bytes();
        SandwichTrainer.Options o = SandwichTrainer.Options.defaults().toBuilder().steps(6).batchSize(2).lr(1e-3).linearLr(1e-3)
                .buffer(bufferPairs * pairBytes, spill).spill(spillPairs == Long.MAX_VALUE ? Long.MAX_VALUE : spillPairs * pairBytes)
                .seed(seed).window(0).build();
        return SandwichTrainer.train(model, b, original, StreamingSandwichTest.calibration(sm), null, o, m,
                SandwichTrainer.FreeSpace.SYSTEM, CalibrationRunner.IN_PROCESS, watching(seen, spill));
    }

    @Test
    void theFirstPassNeverReadsTheKeptPairsAndTheSpillStaysWithinItsBound(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel sm = TinyShapes.model(SandwichTrainerTest.SIX, m, 4);
            Seen seen = new Seen();
            SandwichTrainer.Result r = train(sm, m, spill, 1, 2, 7, seen);
            assertEquals(4, seen.handOvers);
            assertEquals(0, seen.readsWhileStreaming, "the first pass read kept pairs back");
            assertTrue(seen.trainer.keptReads() > 0, "further passes and the final loss read them");
            assertTrue(seen.mostOnDisk > 0, "pairs spilled");
            long pairBytes = seen.trainer.layout().bytes();
            assertTrue(seen.mostOnDisk <= 2 * pairBytes, seen.mostOnDisk + " bytes on disk, bound " + 2 * pairBytes);
            assertEquals(3, seen.trainer.keptPairs(), "buffer 1 + spill 2 of the 8 pairs");
            assertEquals(8, r.pairs());
            assertEquals(2 * pairBytes, r.spilledBytes());
            assertEquals(6, r.losses().length);
            assertTrue(seen.trainer.mostInWindow() <= 3, "window 0: a hand-over and a minibatch at most, held " + seen.trainer.mostInWindow());
        }
    }

    @Test
    void aBoundedRunIsTheSameForTheSameSeed(@TempDir Path spill) {
        List<Map<String, float[]>> runs = new ArrayList<>();
        List<SandwichTrainer.Result> results = new ArrayList<>();
        for (long seed : new long[] {7, 7, 8}) {
            try (NDManager m = NDManager.newBaseManager()) {
                ShapesModel sm = TinyShapes.model(SandwichTrainerTest.SIX, m, 4);
                results.add(train(sm, m, spill, 1, 2, seed, new Seen()));
                runs.add(StreamingSandwichTest.values(sm.flux()));
            }
        }
        for (String k : runs.get(0).keySet()) assertArrayEquals(runs.get(0).get(k), runs.get(1).get(k), k);
        assertArrayEquals(results.get(0).losses(), results.get(1).losses());
        assertEquals(results.get(0).finalLoss(), results.get(1).finalLoss());
        assertFalse(java.util.Arrays.equals(results.get(0).losses(), results.get(2).losses()), "another seed trains otherwise");
    }

    @Test
    void aBufferAndSpillThatHoldNoPairAreRefusedBeforeTheStream(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel sm = TinyShapes.model(SandwichTrainerTest.SIX, m, 4);
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> train(sm, m, spill, 0, 0, 7, new Seen()));
            assertTrue(e.getMessage().contains("hold no sandwich pair"), e.getMessage());
            assertTrue(SandwichTrainer.slot(sm.flux(), StreamingSandwichTest.S0) instanceof fastflux.model.ReplacedSingleBlock,
                    "the replacement is back in its slot");
        }
    }

    @Test
    void withoutABoundHitTheStreamingTrainerStillReadsNothingBackWhileTheStreamRuns(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel sm = TinyShapes.model(SandwichTrainerTest.SIX, m, 4);
            Seen seen = new Seen();
            SandwichTrainer.Result r = train(sm, m, spill, 3, Long.MAX_VALUE, 7, seen);
            assertEquals(0, seen.readsWhileStreaming);
            assertEquals(8, seen.trainer.keptPairs());
            assertEquals(5 * seen.trainer.layout().bytes(), r.spilledBytes());
        }
    }
}
