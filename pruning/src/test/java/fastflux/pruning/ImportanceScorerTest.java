package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.model.BlockId;
import fastflux.model.Param;
import fastflux.model.Tensors;
import fastflux.shapes.ShapesModel;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImportanceScorerTest {

    @Test
    void harmlessRemovalIsLeastImportantUnderEq2() {
        // removing block 0 leaves quality intact (lowest FD, best alignment); removing block 1 ruins it
        double[] fd = {10, 50, 30, 12};
        double[] align = {0.9, 0.1, 0.5, 0.6};
        double[] s = ImportanceScorer.fdAlignScores(fd, align, 0.5, 0.5);
        assertEquals(-1.0, s[0], 1e-12); // -(0.5 (1 - 0) + 0.5 * 1)
        assertEquals(0.0, s[1], 1e-12); // -(0.5 (1 - 1) + 0.5 * 0)
        assertArrayEquals(new int[] {1, 4, 3, 2}, ImportanceScorer.ranks(s));
        // the weights pick the metric: FD alone orders by FD, alignment alone by alignment
        assertArrayEquals(new int[] {1, 4, 3, 2}, ImportanceScorer.ranks(ImportanceScorer.fdAlignScores(fd, align, 1, 0)));
        assertArrayEquals(new int[] {1, 4, 3, 2}, ImportanceScorer.ranks(ImportanceScorer.fdAlignScores(fd, new double[] {0.9, 0.1, 0.5, 0.6}, 0, 1)));
        assertArrayEquals(new int[] {2, 1, 3}, ImportanceScorer.ranks(ImportanceScorer.fdAlignScores(
                new double[] {1, 1, 1}, new double[] {0.5, 0.9, 0.1}, 0.5, 0.5)));
    }

    @Test
    void aZeroGateBlockIsExactlyIdentityAndRanksFirstUnderOutputMse() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 7);
            int h = TinyShapes.PARAMS.hiddenSize();
            // single_blocks.1: zero the gate rows [2H, 3H) of the modulation, so x + gate * out = x exactly
            var params = model.flux().params();
            Param w = params.get("single_blocks.1.modulation.lin.weight");
            Param b = params.get("single_blocks.1.modulation.lin.bias");
            float[] wv = w.value().toFloatArray();
            float[] bv = b.value().toFloatArray();
            for (int i = 2 * h * h; i < 3 * h * h; i++) wv[i] = 0;
            for (int i = 2 * h; i < 3 * h; i++) bv[i] = 0;
            w.set(Tensors.create(m, wv, w.shape()));
            b.set(Tensors.create(m, bv, b.shape()));

            Calibration cal = new Calibration(model.flux(), PromptCalibrationSource.sample(model, 2, 1),
                    new Calibration.Options(2, new long[] {0}, 2, 4f));
            ImportanceReport r = ImportanceScorer.byOutputMse(cal);
            assertEquals(ImportanceScorer.OUTPUT_MSE, r.metric());
            ImportanceReport.Entry first = r.ranked().get(0);
            assertEquals(BlockId.ofSingle(1), first.block());
            assertEquals(0.0, first.mse());
            r.ranked().subList(1, 3).forEach(e -> assertTrue(e.mse() > 0, e.toString()));
            assertEquals(List.of(BlockId.ofSingle(1)), r.leastImportant(1));
            // the model is restored after probing
            assertTrue(model.flux().singleBlocks().get(1) instanceof fastflux.model.SingleStreamBlock);
            assertTrue(model.flux().doubleBlocks().get(0) instanceof fastflux.model.DoubleStreamBlock);
        }
    }

    @Test
    void outputMseFromEachBlocksInputEqualsWholeForwardsWithTheBlockSwitchedOff() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 9);
            var flux = model.flux();
            Calibration cal = new Calibration(flux, PromptCalibrationSource.sample(model, 2, 1),
                    new Calibration.Options(2, new long[] {0}, 2, 4f));
            List<BlockId> blocks = BlockSwap.allBlocks(flux);
            // the reference: a whole forward per block with the block switched off
            double[] sq = new double[blocks.size()];
            long[] count = {0};
            cal.run(new CalibrationConsumer() {
                @Override
                public void onStep(Calibration.Step step) {
                    ai.djl.ndarray.NDArray v0 = flux.forward(step.inputs());
                    count[0] += v0.getShape().size();
                    for (int i = 0; i < blocks.size(); i++) {
                        try (BlockSwap s = BlockSwap.shortcut(flux, blocks.get(i))) {
                            ai.djl.ndarray.NDArray d = flux.forward(step.inputs()).sub(v0);
                            sq[i] += d.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).square().sum().getDouble();
                        }
                    }
                }
            });
            ImportanceReport r = ImportanceScorer.byOutputMse(cal);
            for (ImportanceReport.Entry e : r.entries()) {
                double want = sq[blocks.indexOf(e.block())] / count[0];
                assertTrue(want > 0, e.toString());
                assertEquals(want, e.mse(), 0.0, e.block().name());
            }
            // a subset of the blocks, as a fleet node measures them, gives the same values
            double[][] part = ImportanceScorer.outputMseProbe(cal).measure(List.of(blocks.get(2), blocks.get(0)), (d, b) -> {});
            assertEquals(sq[2] / count[0], part[0][0], 0.0);
            assertEquals(sq[0] / count[0], part[1][0], 0.0);
        }
    }

    /** A runner that measures the blocks in two parts, the second half first, as two machines of a fleet would. */
    static final ImportanceScorer.ProbeRunner SPLIT = (blocks, probe, progress) -> {
        int half = blocks.size() / 2;
        double[][] late = probe.measure(blocks.subList(half, blocks.size()), progress);
        double[][] early = probe.measure(blocks.subList(0, half), progress);
        double[][] out = new double[blocks.size()][];
        System.arraycopy(early, 0, out, 0, half);
        System.arraycopy(late, 0, out, half, late.length);
        return out;
    };

    /** A small probe: 64 images in one step against 64 reference images. */
    private static ImportanceScorer.GenerationOptions probe(ShapesModel model) {
        return ImportanceScorer.GenerationOptions.defaults(model).toBuilder().prompts(64, 4).seedBase(100).steps(1)
                .guidance(4f).batch(32).reference(64, 99).weights(0.5, 0.5).build();
    }

    @Test
    void generationDefaultsAndBuilderRoundTrip() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 7);
            var d = ImportanceScorer.GenerationOptions.defaults(model);
            assertEquals(ImportanceScorer.DEFAULT_PROMPTS, d.prompts());
            assertEquals(Calibration.Options.DEFAULT_PROMPT_SEED + 1, d.promptSeed());
            assertEquals(0, d.seedBase());
            assertEquals(model.defaultSteps(), d.steps());
            assertEquals(model.defaultGuidance(), d.guidance());
            assertEquals(16, d.batch());
            assertEquals(256, d.referenceImages());
            assertEquals(99, d.referenceSeed());
            assertEquals(ImportanceScorer.DEFAULT_ALPHA, d.alpha());
            assertEquals(ImportanceScorer.DEFAULT_BETA, d.beta());
            assertEquals(d, d.toBuilder().build());
            assertThrows(IllegalArgumentException.class, () -> d.toBuilder().weights(0, 0).build());
        }
    }

    @Test
    void blocksMeasuredInPartsGiveTheSameImportance() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 7);
            Calibration cal = new Calibration(model.flux(), PromptCalibrationSource.sample(model, 2, 1),
                    new Calibration.Options(2, new long[] {0}, 2, 4f));
            ImportanceReport whole = ImportanceScorer.byOutputMse(cal);
            ImportanceReport parts = ImportanceScorer.byOutputMse(cal, SPLIT, (done, block) -> {});
            assertEquals(whole.toJson(), parts.toJson());
            var o = probe(model);
            assertEquals(ImportanceScorer.byGeneration(model, o).toJson(),
                    ImportanceScorer.byGeneration(model, o, (done, block) -> {}, SPLIT).toJson());
        }
    }

    @Test
    void importanceJsonAndChart(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 8);
            var o = probe(model);
            ImportanceReport r = ImportanceScorer.byGeneration(model, o);
            r.write(dir);
            JsonObject j = JsonParser.parseString(Files.readString(dir.resolve("importance.json"))).getAsJsonObject();
            assertEquals("fd-align", j.get("metric").getAsString());
            assertEquals(0.5, j.get("alpha").getAsDouble());
            assertEquals(0.5, j.get("beta").getAsDouble());
            assertEquals(64, j.getAsJsonObject("prompts").get("count").getAsInt());
            assertTrue(j.getAsJsonObject("prompts").get("source").getAsString().startsWith("grammar("));
            assertEquals(64, j.getAsJsonArray("seeds").size());
            assertTrue(j.getAsJsonObject("baseline").has("fd"));
            var blocks = j.getAsJsonArray("blocks");
            assertEquals(3, blocks.size());
            Set<Integer> ranks = new HashSet<>();
            String[] names = {"double_blocks.0", "single_blocks.0", "single_blocks.1"};
            for (int i = 0; i < 3; i++) {
                JsonObject b = blocks.get(i).getAsJsonObject();
                assertEquals(names[i], b.get("name").getAsString());
                assertEquals(i == 0 ? "double" : "single", b.get("kind").getAsString());
                for (String k : new String[] {"fd", "align", "mse", "score", "rank"}) assertTrue(b.has(k), k);
                assertTrue(b.get("fd").getAsDouble() >= 0);
                double a = b.get("align").getAsDouble();
                assertTrue(a >= 0 && a <= 1);
                double s = b.get("score").getAsDouble();
                assertTrue(s >= -1 && s <= 0);
                assertTrue(b.get("mse").isJsonNull());
                ranks.add(b.get("rank").getAsInt());
            }
            assertEquals(Set.of(1, 2, 3), ranks);
            BufferedImage png = ImageIO.read(dir.resolve("importance.png").toFile());
            assertTrue(png.getWidth() >= 400 && png.getHeight() > 100);
        }
    }
}
