package fastflux.streams;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.pruning.BlockFitter;
import fastflux.pruning.Calibration;
import fastflux.pruning.CalibrationConsumer;
import fastflux.pruning.CalibrationRunner;
import fastflux.pruning.CalibrationSource;
import fastflux.pruning.PartialPrecision;
import fastflux.pruning.PromptCalibrationSource;
import fastflux.shapes.ShapesModel;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The pipeline on a tiny random model: the same least-squares fits as the in-process run, split or not. */
class CalibrationPipelineTest extends StreamsTestSystem {
    /** A double block and a single block on each side of the split of K = 2 (positions 0-1 | 2-4). */
    static final List<BlockId> BLOCKS = List.of(BlockId.ofDouble(1), BlockId.ofSingle(0), BlockId.ofSingle(2));

    static Calibration calibration(ShapesModel model) {
        // 6 prompts x 2 seeds in batches of 3: 4 batches, the last held out for the residual
        return new Calibration(model.flux(), PromptCalibrationSource.sample(model, 6, 5),
                new Calibration.Options(3, new long[] {0, 1}, 3, 4f));
    }

    static List<BlockFitter.FittedBlock> fit(Calibration cal, CalibrationRunner runner, NDManager m) {
        return BlockFitter.fit(cal, BLOCKS, new BlockFitter.Options(1e-4, 4, PartialPrecision.AUTO), m, runner);
    }

    /** The same blocks, and bit for bit the same weights, biases and held-out residuals per stream. */
    static void assertSameFits(List<BlockFitter.FittedBlock> want, List<BlockFitter.FittedBlock> got, String run) {
        assertEquals(want.size(), got.size());
        for (int i = 0; i < want.size(); i++) {
            BlockFitter.FittedBlock w = want.get(i);
            BlockFitter.FittedBlock g = got.get(i);
            assertEquals(w.block(), g.block());
            for (String s : w.maps().keySet()) {
                String what = run + ", " + w.block() + "/" + s;
                assertArrayEquals(w.maps().get(s).weight(), g.maps().get(s).weight(), what + " weight");
                assertArrayEquals(w.maps().get(s).bias(), g.maps().get(s).bias(), what + " bias");
                assertEquals(w.residuals().get(s), g.residuals().get(s), what + " held-out residual");
            }
        }
    }

    @Test
    void oneTwoAndThreeShardsFitTheMapsOfTheInProcessRunExactly() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 7);
            Calibration cal = calibration(model);
            List<BlockFitter.FittedBlock> want = fit(cal, CalibrationRunner.IN_PROCESS, m);
            for (int k = 1; k <= 3; k++) {
                CalibrationPipeline pipeline = new CalibrationPipeline(mat, new CalibrationPipeline.Options(k, 2, 1));
                List<BlockFitter.FittedBlock> got = fit(cal, pipeline, m);
                assertSameFits(want, got, k + " shard(s)");
                // the residual pass (1 held-out batch) ran last
                assertEquals(1, pipeline.lastStats().batches());
            }
        }
    }

    @Test
    void shardsOnTheirOwnCopiesOfTheirRangesFitTheSameMapsAndPutTheModelsWeightsBack() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 7);
            Calibration cal = calibration(model);
            java.util.Map<String, ai.djl.ndarray.NDArray> before = new java.util.HashMap<>();
            model.flux().params().forEach((name, p) -> before.put(name, p.value()));
            List<BlockFitter.FittedBlock> want = fit(cal, CalibrationRunner.IN_PROCESS, m);
            CalibrationPipeline pipeline = new CalibrationPipeline(mat, new CalibrationPipeline.Options(2, 2, 1)).withCopiedWeights();
            List<BlockFitter.FittedBlock> got = fit(cal, pipeline, m);
            assertSameFits(want, got, "own copies");
            model.flux().params().forEach((name, p) -> assertTrue(before.get(name) == p.value(), name + " was not put back"));
        }
    }

    @Test
    void everyParameterBelongsToExactlyOneShardOfASplit() {
        try (NDManager m = NDManager.newBaseManager()) {
            fastflux.model.FluxModel flux = TinyShapes.model(m, 3).flux();
            int n = flux.config().blockCount();
            for (int k = 1; k <= n; k++) {
                java.util.Set<String> seen = new java.util.HashSet<>();
                for (int i = 0; i < k; i++) {
                    for (fastflux.model.Param p : BlockShard.rangeParams(flux, i * n / k, (i + 1) * n / k - 1)) {
                        assertTrue(seen.add(p.name()), p.name() + " in two shards of " + k);
                    }
                }
                assertEquals(flux.params().keySet(), seen, k + " shards");
            }
            // the first shard embeds, the last ends with the final layer
            assertTrue(BlockShard.rangeParams(flux, 0, 0).stream().anyMatch(p -> p.name().startsWith("img_in.")));
            assertTrue(BlockShard.rangeParams(flux, n - 1, n - 1).stream().anyMatch(p -> p.name().startsWith("final_layer.")));
            assertTrue(BlockShard.rangeParams(flux, 1, 1).stream().allMatch(p -> p.name().startsWith("double_blocks.1.")));
        }
    }

    @Test
    void aSplitModelKeepsAtMostTheBoundInFlight() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 8);
            // 10 prompts x 2 seeds in batches of 2: 10 batches, none held out
            Calibration cal = new Calibration(model.flux(), PromptCalibrationSource.sample(model, 10, 5),
                    new Calibration.Options(2, new long[] {0, 1}, 2, 4f));
            CalibrationPipeline.Options o = new CalibrationPipeline.Options(2, 2, 1);
            CalibrationPipeline pipeline = new CalibrationPipeline(mat, o);
            try (BlockFitter fitter = new BlockFitter(TinyShapes.PARAMS, List.of(BlockId.ofSingle(1)),
                    new BlockFitter.Options(1e-4, 0, PartialPrecision.AUTO))) {
                pipeline.run(cal, fitter, fitter.blocks());
                assertEquals(10, pipeline.lastStats().batches());
                assertTrue(pipeline.lastStats().maxInFlight() <= o.bound(),
                        "max in flight " + pipeline.lastStats().maxInFlight() + " > " + o.bound());
                // 20 images x 2 steps x (8 text + 64 image tokens)
                assertEquals(20L * 2 * 72, fitter.fit(BlockId.ofSingle(1), BlockFitter.JOINT).tokens());
            }
        }
    }

    @Test
    void aShardsErrorFailsThePassWithItsOwnExceptionAndTheShardsStillStop() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 9);
            CalibrationSource good = PromptCalibrationSource.sample(model, 4, 5);
            CalibrationSource broken = new CalibrationSource() {
                public int size() { return good.size(); }
                public String describe() { return "a source whose text encoder fails"; }
                public int latentTokens() { return good.latentTokens(); }
                public int latentChannels() { return good.latentChannels(); }
                public boolean shiftSchedule() { return good.shiftSchedule(); }
                public Conditioning condition(int[] prompts, NDManager scope) {
                    throw new IllegalStateException("text encoder failed on prompt " + prompts[0]);
                }
                public Conditioning unconditional(int n, NDManager scope) { return good.unconditional(n, scope); }
            };
            Calibration cal = new Calibration(model.flux(), broken, new Calibration.Options(2, new long[] {0}, 2, 4f));
            CalibrationPipeline pipeline = new CalibrationPipeline(mat, new CalibrationPipeline.Options(2, 2, 1));
            try (BlockFitter fitter = new BlockFitter(TinyShapes.PARAMS, List.of(BlockId.ofSingle(1)),
                    new BlockFitter.Options(1e-4, 0, PartialPrecision.AUTO))) {
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> pipeline.run(cal, fitter, fitter.blocks()));
                assertTrue(e.getMessage().startsWith("text encoder failed on prompt"), e.getMessage());
            }
            // the same pipeline runs the next pass on fresh shards
            Calibration ok = new Calibration(model.flux(), good, new Calibration.Options(2, new long[] {0}, 2, 4f));
            try (BlockFitter fitter = new BlockFitter(TinyShapes.PARAMS, List.of(BlockId.ofSingle(1)),
                    new BlockFitter.Options(1e-4, 0, PartialPrecision.AUTO))) {
                pipeline.run(ok, fitter, fitter.blocks());
                assertEquals(2, pipeline.lastStats().batches());
            }
        }
    }

    @Test
    void aShardPerListedDeviceFitsTheSameMaps() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 7);
            Calibration cal = calibration(model);
            List<BlockFitter.FittedBlock> want = fit(cal, CalibrationRunner.IN_PROCESS, m);
            List<ai.djl.Device> devices = List.of(ai.djl.Device.fromName("cpu"), ai.djl.Device.cpu());
            List<BlockFitter.FittedBlock> got = fit(cal, new CalibrationPipeline(mat, new CalibrationPipeline.Options(2, 2, 1), devices), m);
            assertSameFits(want, got, "a shard per device");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new CalibrationPipeline(mat, new CalibrationPipeline.Options(3, 2, 1), devices));
            assertTrue(e.getMessage().contains("3 shards need as many devices"), e.getMessage());
        }
    }

    @Test
    void refusesAConsumerThatRunsForwardsOfItsOwn() {
        CalibrationConsumer forwards = new CalibrationConsumer() {
            @Override
            public void onStep(Calibration.Step step) {}
        };
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CalibrationPipeline.requireTapOnly(forwards));
        assertTrue(e.getMessage().contains("IN_PROCESS"), e.getMessage());
    }
}
