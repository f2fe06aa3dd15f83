package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.BlockId;
import fastflux.model.BlockTap;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.HiddenState;
import fastflux.model.LoRA;
import fastflux.model.LoraInjector;
import fastflux.model.Module;
import fastflux.model.PrunedModels;
import fastflux.model.ReplacedDoubleBlock;
import fastflux.model.ReplacedSingleBlock;
import fastflux.model.Replacement;
import fastflux.model.Rope;
import fastflux.shapes.ShapesModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SandwichTrainerTest {
    static final FluxParams SIX = TinyShapes.PARAMS.withDepth(2, 4); // positions 0-1 double, 2-5 single
    static final int H = TinyShapes.PARAMS.hiddenSize();

    static BlockId d(int i) {
        return BlockId.ofDouble(i);
    }

    static BlockId s(int i) {
        return BlockId.ofSingle(i);
    }

    /** Puts a small random BRLL linear in the block's slot; returns the original layer. */
    static Module replace(FluxModel model, BlockId b, NDManager m, long seed) {
        String prefix = b.name() + ".";
        if (b.kind() == BlockId.Kind.DOUBLE) {
            ReplacedDoubleBlock r = new ReplacedDoubleBlock(prefix, H);
            BlockFitter.setLinear(r.imgLinear(), small(seed), m, DataType.FLOAT32);
            BlockFitter.setLinear(r.txtLinear(), small(seed + 1), m, DataType.FLOAT32);
            return model.setDouble(b.index(), r);
        }
        ReplacedSingleBlock r = new ReplacedSingleBlock(prefix, H);
        BlockFitter.setLinear(r.linear(), small(seed), m, DataType.FLOAT32);
        return model.setSingle(b.index(), r);
    }

    static AffineMap small(long seed) {
        return new AffineMap(H, H, TinyShapes.gaussian(H * H, 0.05, seed), TinyShapes.gaussian(H, 0.05, seed + 3));
    }

    static Calibration calibration(ShapesModel model) {
        return new Calibration(model.flux(), PromptCalibrationSource.sample(model, 2, 5),
                new Calibration.Options(2, new long[] {0}, 2, 4f)); // 2 items x 2 steps = 4 pairs
    }

    static SandwichTrainer.Options options(Path spill) {
        return SandwichTrainer.Options.defaults().toBuilder().steps(3).batchSize(2).lr(1e-3).linearLr(1e-3)
                .buffer(1L << 20, spill).seed(7).build();
    }

    // ------------------------------------------------------------------ plan

    @Test
    void planFindsTheNearestKeptBlocksAcrossTheBoundaryAndAtTheEdges() {
        FluxModel model = new FluxModel(SIX);
        SandwichTrainer.Sandwich p = SandwichTrainer.plan(model, s(0), 3); // position 2, first single block
        assertEquals(d(1), p.up());
        assertEquals(s(1), p.down());
        assertEquals(1, p.first());
        assertEquals(3, p.last());
        assertEquals(List.of(s(0)), p.trained());

        SandwichTrainer.Sandwich top = SandwichTrainer.plan(model, d(0), 3);
        assertNull(top.up()); // starts at the embedded input
        assertEquals(0, top.first());
        assertEquals(d(1), top.down());
        assertEquals(1, top.last());

        SandwichTrainer.Sandwich bottom = SandwichTrainer.plan(model, s(3), 3);
        assertEquals(s(2), bottom.up());
        assertNull(bottom.down()); // ends at the last block's output
        assertEquals(5, bottom.last());

        SandwichTrainer.Sandwich one = SandwichTrainer.plan(model, s(0), 1);
        assertNull(one.up());
        assertNull(one.down());
        assertEquals(2, one.first());
        assertEquals(2, one.last());
        assertEquals(List.of(), one.loraBlocks());

        SandwichTrainer.Sandwich five = SandwichTrainer.plan(model, s(0), 5);
        assertEquals(List.of(d(0), d(1)), five.loraBefore());
        assertEquals(List.of(s(1), s(2)), five.loraAfter());
        assertEquals(0, five.first());
        assertEquals(4, five.last());
        assertThrows(IllegalArgumentException.class, () -> SandwichTrainer.plan(model, s(0), 2));
    }

    @Test
    void planSkipsEarlierReplacedBlocks() {
        FluxModel model = new FluxModel(SIX);
        PrunedModels.apply(model, List.of(Replacement.linear(d(1)), Replacement.linear(s(1)), Replacement.delete(s(2))));
        SandwichTrainer.Sandwich p = SandwichTrainer.plan(model, s(0), 3);
        assertEquals(d(0), p.up());
        assertEquals(s(3), p.down());
        assertEquals(0, p.first());
        assertEquals(5, p.last());
        assertEquals(List.of(d(1), s(0), s(1)), p.trained()); // the deleted block has nothing to train

        SandwichTrainer.Sandwich five = SandwichTrainer.plan(model, s(0), 5);
        assertEquals(List.of(d(0)), five.loraBefore()); // only one kept block before: starts at the input
        assertEquals(0, five.first());
        assertEquals(List.of(s(3)), five.loraAfter());
        assertEquals(5, five.last());

        SandwichTrainer.Sandwich one = SandwichTrainer.plan(model, s(0), 1);
        assertEquals(List.of(s(0)), one.trained()); // width 1: the block alone, even beside replaced ones
    }

    // ------------------------------------------------------------------ runBlocks

    @Test
    void runBlocksOverTheWholeRangeEqualsForward() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel sm = TinyShapes.model(SIX, m, 3);
            FluxModel model = sm.flux();
            List<Double> diffs = new ArrayList<>();
            calibration(sm).run(new CalibrationConsumer() {
                @Override
                public void onStep(Calibration.Step step) {
                    NDArray[] last = new NDArray[1];
                    model.forward(step.inputs(), new BlockTap() {
                        @Override
                        public void singleBlock(int index, NDArray in, NDArray out) {
                            if (index == SIX.depthSingleBlocks() - 1) last[0] = out;
                        }
                    });
                    NDArray vec = model.vec(step.inputs());
                    Rope pe = model.rope(step.inputs());
                    HiddenState h = model.embed(step.inputs());
                    NDArray whole = model.runBlocks(0, 5, h, vec, pe).toJoint();
                    HiddenState mid = model.runBlocks(0, 1, h, vec, pe); // streams, converted at the boundary next
                    assertTrue(!mid.isJoint());
                    NDArray split = model.runBlocks(2, 5, model.runBlocks(0, 1, h, vec, pe), vec, pe).joint();
                    diffs.add(whole.sub(last[0]).abs().max().getFloat() + 0.0);
                    diffs.add(split.sub(last[0]).abs().max().getFloat() + 0.0);
                }
            });
            assertEquals(4, diffs.size());
            for (double x : diffs) assertEquals(0.0, x, 1e-6);
        }
    }

    // ------------------------------------------------------------------ training

    @Test
    void overlapTrainsBothLinearsAndTheLoraOfTheKeptNeighboursOnly(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel sm = TinyShapes.model(SIX, m, 4);
            FluxModel model = sm.flux();
            Module original0 = replace(model, s(0), m, 10); // position 2, replaced earlier
            Module original = replace(model, s(1), m, 20); // position 3, the current block
            Module replacement = model.singleBlocks().get(1);
            SandwichTrainer.Result r = SandwichTrainer.train(model, s(1), original, calibration(sm), options(spill), m);

            assertEquals(d(1), r.up());
            assertEquals(s(2), r.down());
            TreeSet<String> expected = new TreeSet<>(List.of("single_blocks.0.linear.weight", "single_blocks.0.linear.bias",
                    "single_blocks.1.linear.weight", "single_blocks.1.linear.bias"));
            for (BlockId b : List.of(d(1), s(2))) {
                for (String prefix : LoraInjector.linears(model, b).keySet()) {
                    expected.add(prefix + "lora_A");
                    expected.add(prefix + "lora_B");
                }
            }
            assertTrue(expected.contains("double_blocks.1.img_attn.qkv.lora_A"));
            assertTrue(expected.contains("single_blocks.2.linear1.lora_B"));
            assertEquals(List.copyOf(expected), r.trainedParams());
            assertEquals(4, r.pairs());
            assertSame(replacement, model.singleBlocks().get(1)); // the linear is back after recording
            assertTrue(LoraInjector.linears(model, d(0)).values().stream().allMatch(l -> l.lora() == null));

            // the next sandwich reuses d(1)'s adapter: trained further, never stacked
            Map<String, fastflux.model.Linear> lin = LoraInjector.linears(model, d(1));
            List<LoRA> before = lin.values().stream().map(fastflux.model.Linear::lora).toList();
            SandwichTrainer.Result r2 = SandwichTrainer.train(model, s(0), original0, calibration(sm),
                    options(spill).toBuilder().steps(1).build(), m);
            assertEquals(d(1), r2.up());
            assertEquals(s(2), r2.down());
            List<LoRA> after = lin.values().stream().map(fastflux.model.Linear::lora).toList();
            for (int i = 0; i < before.size(); i++) assertSame(before.get(i), after.get(i));
        }
    }

    @Test
    void theLinearsTrainAtTheirOwnRateAndAtZeroStayAsFitted(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel sm = TinyShapes.model(m, 5); // d0, s0, s1
            FluxModel model = sm.flux();
            Module original = replace(model, s(0), m, 30);
            ReplacedSingleBlock linear = (ReplacedSingleBlock) model.singleBlocks().get(0);
            float[] fitted = linear.linear().weight().value().toFloatArray();
            SandwichTrainer.Result frozen = SandwichTrainer.train(model, s(0), original, calibration(sm),
                    options(spill).toBuilder().steps(4).linearLr(0).build(), m);
            assertArrayEquals(fitted, linear.linear().weight().value().toFloatArray(), 0f);
            // the adapters did learn: B started at zero
            float[] b = LoraInjector.linears(model, d(0)).values().iterator().next().lora().b().value().toFloatArray();
            assertTrue(maxAbs(b) > 0, "the adapters stayed at zero");
            assertTrue(frozen.trainedParams().contains("single_blocks.0.linear.weight")); // still in the trained set

            // at its own rate: one step moves each weight by about that rate (Adam's first update is ~ the rate)
            SandwichTrainer.train(model, s(0), original, calibration(sm),
                    options(spill).toBuilder().steps(1).lr(1e-3).linearLr(1e-5).build(), m);
            float[] moved = linear.linear().weight().value().toFloatArray();
            float step = 0;
            for (int i = 0; i < moved.length; i++) step = Math.max(step, Math.abs(moved[i] - fitted[i]));
            assertTrue(step > 0 && step < 2e-5, "the largest linear update was " + step + ", expected about 1e-5");
        }
    }

    private static float maxAbs(float[] v) {
        float a = 0;
        for (float x : v) a = Math.max(a, Math.abs(x));
        return a;
    }

    @Test
    void trainingLowersTheLocalLossAndFreshLoraStartsAtTheLinearOnlyLoss(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel sm = TinyShapes.model(m, 5); // d0, s0, s1
            FluxModel model = sm.flux();
            Module original = replace(model, s(0), m, 30);
            SandwichTrainer.Options o = options(spill).toBuilder().steps(25).batchSize(4).lr(3e-3).linearLr(3e-3).build();
            SandwichTrainer.Sandwich plan = SandwichTrainer.plan(model, s(0), 3);
            try (SandwichPairs pairs = SandwichTrainer.record(model, plan, original, calibration(sm), o,
                    SandwichTrainer.FreeSpace.SYSTEM)) {
                double linearOnly = SandwichTrainer.loss(model, plan, pairs, 4, m); // no LoRA yet
                assertTrue(linearOnly > 0);
                SandwichTrainer.Result r = SandwichTrainer.train(model, plan, pairs, o, m);
                assertEquals(linearOnly, r.initialLoss(), 1e-6 * linearOnly);
                assertEquals(linearOnly, r.losses()[0], 1e-6 * linearOnly); // full batch: step 0 sees every pair
                assertTrue(r.finalLoss() < r.initialLoss(), r.initialLoss() + " -> " + r.finalLoss());
                assertEquals(25, r.losses().length);
            }
        }
    }

    @Test
    void heldOutPairsAreMeasuredBeforeAndAfterButNeverTrainedOn(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            SandwichTrainer.Options o = options(spill).toBuilder().steps(6).batchSize(2).lr(3e-3).linearLr(3e-3).build();
            // the same run three times on the same random model: no held-out set, the training calibration itself
            // held out, and other prompts held out
            SandwichTrainer.Result plain = trainS0(m, o, null);
            SandwichTrainer.Result same = trainS0(m, o, sm -> calibration(sm));
            SandwichTrainer.Result other = trainS0(m, o, sm -> new Calibration(sm.flux(),
                    PromptCalibrationSource.heldOut(PromptCalibrationSource.sample(sm, 2, 5), 3, 11),
                    new Calibration.Options(2, new long[] {100}, 2, 4f)));

            assertTrue(Double.isNaN(plain.heldOutInitialLoss()) && Double.isNaN(plain.heldOutFinalLoss()));
            assertEquals(0, plain.heldOutPairs());
            // measured, not trained on: the training run is the plain one's, step for step
            for (SandwichTrainer.Result r : List.of(same, other)) {
                assertArrayEquals(plain.losses(), r.losses());
                assertEquals(plain.finalLoss(), r.finalLoss(), 0.0);
            }
            // held out = the training pairs: the held-out losses are the training losses
            assertEquals(4, same.heldOutPairs());
            assertEquals(same.initialLoss(), same.heldOutInitialLoss(), 1e-6 * same.initialLoss());
            assertEquals(same.finalLoss(), same.heldOutFinalLoss(), 1e-6 * same.finalLoss());
            // other prompts: 3 items x 2 steps, another loss
            assertEquals(6, other.heldOutPairs());
            assertTrue(other.heldOutInitialLoss() > 0 && other.heldOutFinalLoss() > 0);
            assertTrue(Math.abs(other.heldOutInitialLoss() - other.initialLoss()) > 1e-6 * other.initialLoss());
        }
    }

    /** A training run's result and every parameter of the model after it (LoRA adapters included), as raw bytes. */
    private record Trained(SandwichTrainer.Result result, Map<String, byte[]> weights) {}

    /**
     * Trains {@code s(0)}'s sandwich of a fresh model (the same random model each time) on recorded pairs, measuring
     * the held-out loss every {@code every} steps, or with no held-out pairs at all when {@code every} is 0.
     */
    private static Trained trainMeasuringEvery(NDManager m, SandwichTrainer.Options o, int every) {
        ShapesModel sm = TinyShapes.model(m, 5);
        FluxModel model = sm.flux();
        Module original = replace(model, s(0), m, 30);
        SandwichTrainer.Sandwich plan = SandwichTrainer.plan(model, s(0), 3);
        Calibration other = new Calibration(model, PromptCalibrationSource.heldOut(PromptCalibrationSource.sample(sm, 2, 5), 3, 11),
                new Calibration.Options(2, new long[] {100}, 2, 4f));
        try (SandwichPairs pairs = SandwichTrainer.record(model, plan, original, calibration(sm), o, SandwichTrainer.FreeSpace.SYSTEM);
             SandwichPairs held = SandwichTrainer.record(model, plan, original, other, o, SandwichTrainer.FreeSpace.SYSTEM)) {
            SandwichTrainer.Result r = every == 0 ? SandwichTrainer.train(model, plan, pairs, null, o, m, 1)
                    : SandwichTrainer.train(model, plan, pairs, held, o, m, every);
            Map<String, byte[]> weights = new java.util.TreeMap<>();
            model.params().forEach((name, p) -> weights.put(name, p.value().toByteArray()));
            LoraInjector.trainableParams(model).forEach((name, p) -> weights.put(name, p.value().toByteArray()));
            return new Trained(r, weights);
        }
    }

    @Test
    void measuringTheHeldOutLossDuringTrainingLeavesEveryWeightBitForBitTheSame(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            SandwichTrainer.Options o = options(spill).toBuilder().steps(8).batchSize(3).lr(3e-3).build();
            Trained none = trainMeasuringEvery(m, o, 0);
            Trained everyStep = trainMeasuringEvery(m, o, 1);
            Trained everyThird = trainMeasuringEvery(m, o, 3);
            assertTrue(none.weights().keySet().stream().anyMatch(n -> n.contains(".lora_")), "the adapters are compared too");
            for (Trained t : List.of(everyStep, everyThird)) {
                assertEquals(none.weights().keySet(), t.weights().keySet());
                none.weights().forEach((name, bytes) -> assertArrayEquals(bytes, t.weights().get(name), name));
                assertArrayEquals(none.result().losses(), t.result().losses(), 0.0);
                assertEquals(none.result().finalLoss(), t.result().finalLoss(), 0.0);
            }
            // the weights did move: a run that changed nothing would pass the comparison trivially
            assertTrue(none.result().finalLoss() < none.result().initialLoss());

            assertEquals(0, none.result().heldOutSteps().length);
            assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8}, everyStep.result().heldOutSteps());
            assertArrayEquals(new int[] {0, 3, 6, 8}, everyThird.result().heldOutSteps());
            // the same weights at the same steps give the same held-out losses, the ends are the initial and final ones
            double[] all = everyStep.result().heldOutLosses();
            double[] third = everyThird.result().heldOutLosses();
            assertArrayEquals(new double[] {all[0], all[3], all[6], all[8]}, third, 0.0);
            assertEquals(everyThird.result().heldOutInitialLoss(), third[0], 0.0);
            assertEquals(everyThird.result().heldOutFinalLoss(), third[3], 0.0);
        }
    }

    @Test
    void microBatchesAccumulateTheGradientsOfTheWholeMinibatch(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            // 4 pairs, minibatches of 4: one pass, or micro-batches of 2 and of 3 (a short last one), 6 steps
            SandwichTrainer.Options o = options(spill).toBuilder().steps(6).batchSize(4).lr(3e-3).linearLr(3e-3).build();
            assertEquals(0, o.microBatch(), "the default runs the whole minibatch at once");
            assertEquals(4, o.pairsPerPass());
            Trained whole = trainMeasuringEvery(m, o, 0);
            for (int micro : new int[] {2, 3}) {
                SandwichTrainer.Options mo = o.toBuilder().microBatch(micro).build();
                assertEquals(micro, mo.pairsPerPass());
                Trained parts = trainMeasuringEvery(m, mo, 0);
                assertEquals(whole.weights().keySet(), parts.weights().keySet());
                assertArrayEquals(whole.result().losses(), parts.result().losses(), 1e-6);
                assertEquals(whole.result().finalLoss(), parts.result().finalLoss(), 1e-6);
                double maxDiff = 0;
                for (var e : whole.weights().entrySet()) {
                    float[] a = floats(e.getValue());
                    float[] b = floats(parts.weights().get(e.getKey()));
                    for (int i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
                }
                assertTrue(maxDiff < 1e-5, "micro-batch " + micro + ": weights differ by " + maxDiff);
            }
            // the steps moved the adapters: equal weights would otherwise be trivial
            assertTrue(whole.result().finalLoss() < whole.result().initialLoss());
            assertThrows(IllegalArgumentException.class, () -> o.toBuilder().microBatch(-1).build());
        }
    }

    private static float[] floats(byte[] bytes) {
        java.nio.FloatBuffer f = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
        float[] out = new float[f.remaining()];
        f.get(out);
        return out;
    }

    @Test
    void aJobsSandwichBatchComesFromItsOptionsAndDefaultsToSixteenPairsAtOnce(@TempDir Path spill) {
        SandwichTrainer.Options d = SandwichTrainer.Options.of(PruneOptions.defaults(0.2), spill, 0);
        assertEquals(16, d.batchSize());
        assertEquals(0, d.microBatch());
        assertEquals(16, d.pairsPerPass());
        SandwichTrainer.Options o = SandwichTrainer.Options.of(PruneOptions.defaults(0.2).with(PruneOptions.ST_BATCH, 4)
                .with(PruneOptions.ST_MICRO_BATCH, 1), spill, 0);
        assertEquals(4, o.batchSize());
        assertEquals(1, o.pairsPerPass());
        assertEquals(4, SandwichTrainer.Options.of(PruneOptions.defaults(0.2).with(PruneOptions.ST_BATCH, 4)
                .with(PruneOptions.ST_MICRO_BATCH, 9), spill, 0).pairsPerPass(), "at most the minibatch");
        assertThrows(IllegalArgumentException.class, () -> PruneOptions.defaults(0.2).with(PruneOptions.ST_BATCH, 0));
    }

    @Test
    void theHeldOutLossIsMeasuredAsOftenAsAFifthOfTheTrainingWorkAllows() {
        // the Shapes job's defaults: 150 steps of 16 pairs, 16 held-out prompts x 2 seeds x 10 sampler steps
        assertEquals(34, SandwichTrainer.heldOutEvery(150, 16, 320)); // 320 / (0.2 * 3 * 16) = 33.3
        assertEquals(10, SandwichTrainer.heldOutEvery(200, 8, 4)); // cheap: at most 20 measurements
        assertEquals(1, SandwichTrainer.heldOutEvery(5, 8, 4));
        assertEquals(1, SandwichTrainer.heldOutEvery(0, 8, 0));
    }

    private static SandwichTrainer.Result trainS0(NDManager m, SandwichTrainer.Options o,
                                                  java.util.function.Function<ShapesModel, Calibration> heldOut) {
        ShapesModel sm = TinyShapes.model(m, 5);
        Module original = replace(sm.flux(), s(0), m, 30);
        return SandwichTrainer.train(sm.flux(), s(0), original, calibration(sm), heldOut == null ? null : heldOut.apply(sm),
                o, m, SandwichTrainer.FreeSpace.SYSTEM, CalibrationRunner.IN_PROCESS);
    }

    @Test
    void widthOneTrainsTheLinearAloneOnItsOwnPairs(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel sm = TinyShapes.model(m, 6);
            FluxModel model = sm.flux();
            Module original = replace(model, d(0), m, 40);
            SandwichTrainer.Result r = SandwichTrainer.train(model, d(0), original, calibration(sm),
                    options(spill).toBuilder().width(1).build(), m);
            assertEquals(List.of("double_blocks.0.img_linear.bias", "double_blocks.0.img_linear.weight",
                    "double_blocks.0.txt_linear.bias", "double_blocks.0.txt_linear.weight"), r.trainedParams());
            assertNull(r.up());
            assertNull(r.down());
            assertTrue(LoraInjector.trainableParams(model).isEmpty());
        }
    }

    @Test
    void spilledPairsTrainExactlyAsInMemoryOnesAndAreDeletedAfter(@TempDir Path spill) throws Exception {
        SandwichTrainer.Result inMemory;
        SandwichTrainer.Result spilled;
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel sm = TinyShapes.model(m, 8);
            Module original = replace(sm.flux(), s(0), m, 50);
            inMemory = SandwichTrainer.train(sm.flux(), s(0), original, calibration(sm), options(spill).toBuilder().steps(4).build(), m);
        }
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel sm = TinyShapes.model(m, 8);
            Module original = replace(sm.flux(), s(0), m, 50);
            spilled = SandwichTrainer.train(sm.flux(), s(0), original, calibration(sm),
                    options(spill).toBuilder().steps(4).buffer(1, spill).build(), m); // nothing fits in memory
        }
        assertEquals(0, inMemory.spilledBytes());
        assertTrue(spilled.spilledBytes() > 0);
        assertEquals(inMemory.pairs(), spilled.pairs());
        assertArrayEquals(inMemory.losses(), spilled.losses(), 1e-6);
        assertEquals(inMemory.initialLoss(), spilled.initialLoss(), 1e-6);
        assertEquals(inMemory.finalLoss(), spilled.finalLoss(), 1e-6);
        try (var files = Files.list(spill)) {
            assertEquals(0, files.count(), "spill files are deleted after training");
        }
    }

    @Test
    void notEnoughDiskIsAClearErrorBeforeRecording(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel sm = TinyShapes.model(m, 9);
            FluxModel model = sm.flux();
            Module original = replace(model, s(0), m, 60);
            Module replacement = model.singleBlocks().get(0);
            SandwichTrainer.Options o = options(spill).toBuilder().buffer(0, spill).build();
            SandwichTrainer.Sandwich plan = SandwichTrainer.plan(model, s(0), 3);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> SandwichTrainer.record(model, plan,
                    original, calibration(sm), o, dir -> 1024));
            assertTrue(e.getMessage().contains("not enough disk"), e.getMessage());
            assertTrue(e.getMessage().contains(spill.toString()), e.getMessage());
            assertSame(replacement, model.singleBlocks().get(0));
        }
    }
}
