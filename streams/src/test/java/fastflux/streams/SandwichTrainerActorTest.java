package fastflux.streams;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.BlockId;
import fastflux.model.FluxModel;
import fastflux.model.LoraInjector;
import fastflux.model.Module;
import fastflux.model.Param;
import fastflux.model.ReplacedSingleBlock;
import fastflux.pruning.AffineMap;
import fastflux.pruning.BlockFitter;
import fastflux.pruning.Calibration;
import fastflux.pruning.CalibrationRunner;
import fastflux.pruning.PromptCalibrationSource;
import fastflux.pruning.SandwichPairs;
import fastflux.pruning.SandwichTrainer;
import fastflux.pruning.StreamingSandwich;
import fastflux.shapes.ShapesModel;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sandwich trainer actor fed by the calibration pipeline: the same adapters and linears, bit for bit, as recording
 * every pair and then training on them, and the stream never more than the bound ahead of training.
 */
class SandwichTrainerActorTest extends StreamsTestSystem {
    static final BlockId BLOCK = BlockId.ofSingle(1); // position 3: its sandwich runs single 0 .. single 2

    /** Puts a small random linear in the block's slot; returns the original layer. */
    static Module replace(FluxModel flux, NDManager m) {
        int h = flux.config().hiddenSize();
        Random r = new Random(5);
        float[] w = new float[h * h];
        float[] b = new float[h];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05);
        for (int i = 0; i < b.length; i++) b[i] = (float) (r.nextGaussian() * 0.05);
        ReplacedSingleBlock rep = new ReplacedSingleBlock(BLOCK.name() + ".", h);
        BlockFitter.setLinear(rep.linear(), new AffineMap(h, h, w, b), m, DataType.FLOAT32);
        return flux.setSingle(BLOCK.index(), rep);
    }

    static Calibration calibration(ShapesModel model) {
        // 8 prompts x 1 seed in batches of 2, 2 steps: 16 pairs, handed over 2 (a step's items) at a time
        return new Calibration(model.flux(), PromptCalibrationSource.sample(model, 8, 9), new Calibration.Options(2, new long[] {0}, 2, 4f));
    }

    static SandwichTrainer.Options options(Path spill, long windowBytes) {
        // 20 steps of 2: training runs all along the stream, then a further pass
        return SandwichTrainer.Options.defaults().toBuilder().steps(20).batchSize(2).lr(1e-3).linearLr(1e-3)
                .lora(2, 2f).buffer(1L << 20, spill).seed(3).window(windowBytes).build();
    }

    static Map<String, float[]> values(FluxModel model) {
        Map<String, float[]> out = new TreeMap<>();
        for (Param p : model.params().values()) out.put(p.name(), p.value().toFloatArray());
        for (Param p : LoraInjector.trainableParams(model).values()) out.put(p.name(), p.value().toFloatArray());
        return out;
    }

    @Test
    void theActorFedByTwoShardsTrainsWhatRecordingFirstTrainsAndHoldsTheStreamWithinTheBound(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel a = TinyShapes.model(m, 12);
            ShapesModel b = TinyShapes.model(m, 12);
            Module originalA = replace(a.flux(), m);
            Module originalB = replace(b.flux(), m);
            SandwichTrainer.Sandwich plan = SandwichTrainer.plan(a.flux(), BLOCK, 3);
            long pairBytes;
            try (SandwichPairs probe = SandwichTrainer.record(a.flux(), plan, originalA, calibration(a),
                    options(spill, 0), SandwichTrainer.FreeSpace.SYSTEM)) {
                pairBytes = probe.layout().bytes();
                assertEquals(16, probe.size());
            }
            long window = 3;
            SandwichTrainer.Options o = options(spill, window * pairBytes);

            SandwichTrainer.Result buffered;
            try (SandwichPairs pairs = SandwichTrainer.record(a.flux(), plan, originalA, calibration(a), o, SandwichTrainer.FreeSpace.SYSTEM)) {
                buffered = SandwichTrainer.train(a.flux(), plan, pairs, null, o, m);
            }

            StreamingSandwich[] seen = new StreamingSandwich[1];
            SandwichTrainer.Feed actors = SandwichTrainerActor.feed(system);
            CalibrationPipeline pipeline = new CalibrationPipeline(mat, new CalibrationPipeline.Options(2, 2, 1));
            Module replacementB = b.flux().singleBlocks().get(BLOCK.index());
            SandwichTrainer.Result streamed = SandwichTrainer.train(b.flux(), BLOCK, originalB, calibration(b), null, o, m,
                    SandwichTrainer.FreeSpace.SYSTEM, pipeline, trainer -> {
                        seen[0] = trainer;
                        return actors.open(trainer);
                    });

            assertSame(replacementB, b.flux().singleBlocks().get(BLOCK.index()), "the linear is back in its slot");
            Map<String, float[]> va = values(a.flux());
            Map<String, float[]> vb = values(b.flux());
            assertEquals(va.keySet(), vb.keySet());
            assertTrue(va.containsKey("single_blocks.2.linear1.lora_B"));
            for (String k : va.keySet()) assertArrayEquals(va.get(k), vb.get(k), k);
            assertArrayEquals(buffered.losses(), streamed.losses());
            assertEquals(buffered.initialLoss(), streamed.initialLoss());
            assertEquals(buffered.finalLoss(), streamed.finalLoss());

            // the stream hands over a step's 2 pairs and waits for the answer: never more ahead than the bound
            long bound = StreamingSandwich.bound(window, 2, 2);
            assertTrue(seen[0].mostAhead() <= bound, "ahead " + seen[0].mostAhead() + " > bound " + bound);
            assertTrue(seen[0].mostAhead() > window, "the window filled: " + seen[0].mostAhead());
        }
    }

    @Test
    void withoutAWindowTheTrainerHoldsTheWholeStreamBeforeItsFirstStep(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel b = TinyShapes.model(m, 12);
            Module original = replace(b.flux(), m);
            StreamingSandwich[] seen = new StreamingSandwich[1];
            SandwichTrainer.Feed actors = SandwichTrainerActor.feed(system);
            SandwichTrainer.train(b.flux(), BLOCK, original, calibration(b), null, options(spill, Long.MAX_VALUE), m,
                    SandwichTrainer.FreeSpace.SYSTEM, CalibrationRunner.IN_PROCESS, trainer -> {
                        seen[0] = trainer;
                        return actors.open(trainer);
                    });
            // the counter the bound test reads does count: here every pair waits for the end of the stream
            assertEquals(16, seen[0].mostAhead());
        }
    }

    @Test
    void microBatchesTrainOnTheActorsThreadAsTheyDoInTheCallers(@TempDir Path spill) {
        // each step's 2 pairs run forward and backward one at a time, their gradients summed before one update
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel a = TinyShapes.model(m, 12);
            ShapesModel b = TinyShapes.model(m, 12);
            Module originalA = replace(a.flux(), m);
            Module originalB = replace(b.flux(), m);
            SandwichTrainer.Sandwich plan = SandwichTrainer.plan(a.flux(), BLOCK, 3);
            SandwichTrainer.Options o = options(spill, Long.MAX_VALUE).toBuilder().microBatch(1).build();
            SandwichTrainer.Result buffered;
            try (SandwichPairs pairs = SandwichTrainer.record(a.flux(), plan, originalA, calibration(a), o, SandwichTrainer.FreeSpace.SYSTEM)) {
                buffered = SandwichTrainer.train(a.flux(), plan, pairs, null, o, m);
            }
            SandwichTrainer.Feed actors = SandwichTrainerActor.feed(system);
            SandwichTrainer.Result streamed = SandwichTrainer.train(b.flux(), BLOCK, originalB, calibration(b), null, o, m,
                    SandwichTrainer.FreeSpace.SYSTEM, CalibrationRunner.IN_PROCESS, actors::open);
            Map<String, float[]> va = values(a.flux());
            Map<String, float[]> vb = values(b.flux());
            for (String k : va.keySet()) assertArrayEquals(va.get(k), vb.get(k), k);
            assertArrayEquals(buffered.losses(), streamed.losses());
            assertTrue(streamed.finalLoss() < streamed.initialLoss(), streamed.initialLoss() + " -> " + streamed.finalLoss());
        }
    }
}
