package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import fastflux.model.BlockTap;
import fastflux.model.FluxModel;
import fastflux.model.Streams;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsWriter;
import fastflux.sampling.EulerSampler;
import fastflux.shapes.ShapesModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CalibrationTest {

    @Test
    void consumerSeesOneBoundedBatchAtATime() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 1);
            Calibration cal = new Calibration(model.flux(), PromptCalibrationSource.sample(model, 5, 3),
                    new Calibration.Options(3, new long[] {0, 1}, 2, 4f));
            assertEquals(10, cal.items());
            List<Calibration.Batch> seen = new ArrayList<>();
            List<NDArray> tapped = new ArrayList<>();
            int[] steps = {0};
            cal.run(new CalibrationConsumer() {
                @Override
                public void beginBatch(Calibration.Batch batch) {
                    assertEquals(1, cal.openBatches());
                    for (Calibration.Batch b : seen) assertFalse(b.isOpen(), "batch " + b.index() + " still open");
                    for (NDArray a : tapped) assertTrue(a.isReleased(), "an array of an earlier batch is still alive");
                    assertTrue(batch.size() <= 3);
                    seen.add(batch);
                }

                @Override
                public void onStep(Calibration.Step step) {
                    steps[0]++;
                    assertEquals(2L * step.batch().size(), step.inputs().img().getShape().get(0)); // both guidance halves
                }

                @Override
                public BlockTap tap(Calibration.Step step) {
                    int rows = step.batch().size();
                    return new BlockTap() {
                        @Override
                        public void doubleBlock(int index, Streams in, Streams out) {
                            assertEquals(rows, in.img().getShape().get(0)); // the conditional half only
                            tapped.add(in.img());
                        }

                        @Override
                        public void singleBlock(int index, NDArray in, NDArray out) {
                            assertEquals(rows, in.getShape().get(0));
                            tapped.add(out);
                        }
                    };
                }
            });
            assertEquals(0, cal.openBatches());
            assertEquals(4, seen.size()); // 10 items in batches of 3
            assertEquals(4 * 2, steps[0]);
            assertEquals(List.of(0, 0, 1), List.of(seen.get(0).prompts()[0], seen.get(0).prompts()[1], seen.get(0).prompts()[2]));
            for (NDArray a : tapped) assertTrue(a.isReleased());
        }
    }

    @Test
    void heldOutPromptsAreOtherTextsThanTheTrainingOnesAndDeterministic() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 1);
            PromptCalibrationSource training = PromptCalibrationSource.sample(model, 64, 20_250_601L);
            PromptCalibrationSource held = PromptCalibrationSource.heldOut(training, 16, 99);
            assertEquals(16, held.size());
            java.util.Set<String> trained = new java.util.HashSet<>();
            training.prompts().forEach(p -> trained.add(p));
            java.util.Set<String> texts = new java.util.HashSet<>();
            for (var p : held.prompts()) {
                assertFalse(trained.contains(p), "held-out prompt is a training prompt: " + p);
                assertTrue(texts.add(p), "held-out prompt twice: " + p);
            }
            assertEquals(held.prompts(), PromptCalibrationSource.heldOut(training, 16, 99).prompts());
            assertThrows(IllegalArgumentException.class, () -> PromptCalibrationSource.heldOut(training, 0, 99));
        }
    }

    @Test
    void noiseDependsOnPromptAndSeedOnly() {
        assertEquals(Calibration.noiseSeed(3, 1), Calibration.noiseSeed(3, 1));
        assertTrue(Calibration.noiseSeed(3, 1) != Calibration.noiseSeed(4, 1));
        assertTrue(Calibration.noiseSeed(3, 1) != Calibration.noiseSeed(3, 0));
        try (NDManager m = NDManager.newBaseManager()) {
            long[] seeds = {5, 9};
            NDArray a = EulerSampler.noise(seeds, 64, 48, m);
            NDArray b = ShapesModel.noise(seeds, m); // the generator of generation
            assertTrue(a.contentEquals(b));
            NDArray second = EulerSampler.noise(new long[] {9}, 64, 48, m); // an image's noise ignores its batch
            assertTrue(second.contentEquals(a.get("1:2")));
        }
    }

    @Test
    void precomputedEmbeddingsDriveAGuidanceEmbeddedModel(@TempDir Path dir) {
        var p = TinyShapes.PARAMS.withDepth(1, 1);
        var pg = new fastflux.model.FluxParams(p.inChannels(), p.outChannels(), p.vecInDim(), p.contextInDim(),
                p.hiddenSize(), p.mlpRatio(), p.numHeads(), 1, 1, p.axesDim(), p.theta(), p.qkvBias(), true);
        int n = 3;
        int len = 5;
        Path file = dir.resolve("calib.safetensors");
        new SafetensorsWriter()
                .add("txt", DType.F32, new long[] {n, len, 64}, TinyShapes.gaussian(n * len * 64, 1, 1))
                .add("y", DType.BF16, new long[] {n, 64}, TinyShapes.gaussian(n * 64, 1, 2))
                .write(file);
        try (NDManager m = NDManager.newBaseManager();
                PrecomputedCalibrationSource src = PrecomputedCalibrationSource.open(file, pg, 4, 6, true)) {
            assertEquals(3, src.size());
            assertEquals(24, src.latentTokens());
            FluxModel flux = new FluxModel(pg);
            flux.initRandom(m, ai.djl.ndarray.types.DataType.FLOAT32, 3);
            Calibration cal = new Calibration(flux, src, new Calibration.Options(2, new long[] {0}, 2, 3.5f));
            ImportanceReport r = ImportanceScorer.byOutputMse(cal);
            assertEquals(2, r.entries().size());
            r.entries().forEach(e -> assertTrue(e.mse() > 0));

            // a model without guidance embedding needs unconditional embeddings for classifier-free guidance
            FluxModel cfg = new FluxModel(p);
            cfg.initRandom(m, ai.djl.ndarray.types.DataType.FLOAT32, 4);
            Calibration bad = new Calibration(cfg, src, new Calibration.Options(2, new long[] {0}, 2, 3.5f));
            var e = assertThrows(IllegalArgumentException.class, () -> bad.run(new CalibrationConsumer() {}));
            assertTrue(e.getMessage().contains("neg_txt"), e.getMessage());
            new Calibration(cfg, src, new Calibration.Options(2, new long[] {0}, 1, 1f)).run(new CalibrationConsumer() {});
        }
    }
}
