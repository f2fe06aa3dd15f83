package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.BlockId;
import fastflux.model.Linear;
import fastflux.model.ReplacedDoubleBlock;
import fastflux.model.ReplacedSingleBlock;
import fastflux.shapes.ShapesModel;
import java.util.List;
import org.junit.jupiter.api.Test;

class BlockFitterTest {
    static final int H = TinyShapes.PARAMS.hiddenSize();

    static AffineMap known(long seed) {
        return new AffineMap(H, H, TinyShapes.gaussian(H * H, 0.1, seed), TinyShapes.gaussian(H, 0.1, seed + 7));
    }

    static Calibration calibration(ShapesModel model, int prompts, Calibration.Options o) {
        return new Calibration(model.flux(), PromptCalibrationSource.sample(model, prompts, 5), o);
    }

    static Calibration.Options tiny(int batch) {
        return new Calibration.Options(batch, new long[] {0, 1}, 2, 4f);
    }

    @Test
    void recoversTrulyLinearBlocksThroughTheCalibrationTap() {
        try (NDManager m = NDManager.newBaseManager()) {
            // two double blocks: the first one's text input depends on the prompt only, so it is replaced in the
            // second slot, whose text input mixes in the latents through the first block's joint attention
            ShapesModel model = TinyShapes.model(TinyShapes.PARAMS.withDepth(2, 2), m, 1);
            // the "originals": residual branches that are exactly affine, with known weights
            AffineMap img = known(11);
            AffineMap txt = known(12);
            AffineMap joint = known(13);
            ReplacedDoubleBlock d = new ReplacedDoubleBlock("double_blocks.1.", H);
            BlockFitter.setLinear(d.imgLinear(), img, m, DataType.FLOAT32);
            BlockFitter.setLinear(d.txtLinear(), txt, m, DataType.FLOAT32);
            ReplacedSingleBlock s = new ReplacedSingleBlock("single_blocks.1.", H);
            BlockFitter.setLinear(s.linear(), joint, m, DataType.FLOAT32);
            model.flux().setDouble(1, d);
            model.flux().setSingle(1, s);

            // 14 prompts in batches of 3: batches 0-2 and 4 fit, batch 3 is held out. Text tokens vary mostly
            // with the prompt, so the fit needs distinct prompts more than seeds.
            Calibration cal = calibration(model, 14, new Calibration.Options(3, new long[] {0}, 2, 4f));
            List<BlockFitter.FittedBlock> fits = BlockFitter.fit(cal,
                    List.of(BlockId.ofSingle(1), BlockId.ofDouble(1)),
                    new BlockFitter.Options(0.0, 4, PartialPrecision.FP64), m);
            assertEquals(List.of(BlockId.ofDouble(1), BlockId.ofSingle(1)), fits.stream().map(f -> f.block()).toList());

            BlockFitter.FittedBlock fd = fits.get(0);
            assertClose(img, fd.maps().get(BlockFitter.IMG), 1e-6);
            assertClose(txt, fd.maps().get(BlockFitter.TXT), 1e-6);
            assertClose(img, ((ReplacedDoubleBlock) fd.replacement()).imgLinear(), 1e-6);
            BlockFitter.FittedBlock fs = fits.get(1);
            assertClose(joint, fs.maps().get(BlockFitter.JOINT), 1e-6);
            assertClose(joint, ((ReplacedSingleBlock) fs.replacement()).linear(), 1e-6);
            for (BlockFitter.FittedBlock f : fits) {
                f.residuals().forEach((k, r) -> assertTrue(r < 1e-5, f.block() + "/" + k + " residual " + r));
            }
        }
    }

    @Test
    void nonlinearBlocksGetAFiniteHeldOutResidual() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 2);
            Calibration cal = calibration(model, 2, tiny(2));
            List<BlockFitter.FittedBlock> fits = BlockFitter.fit(cal, List.of(BlockId.ofSingle(0)),
                    new BlockFitter.Options(1e-3, 2, PartialPrecision.AUTO), m);
            double r = fits.get(0).residuals().get(BlockFitter.JOINT);
            assertTrue(r > 0 && r < 1.5, "residual " + r);
            fits.get(0).install(model.flux());
            assertTrue(model.flux().singleBlocks().get(0) instanceof ReplacedSingleBlock);
        }
    }

    @Test
    void aCalibrationShorterThanTheHoldoutPeriodHoldsOutItsLastBatch() {
        BlockFitter.Options every4 = BlockFitter.Options.defaults();
        assertEquals(4, every4.holdoutEvery());
        assertEquals(every4, every4.forBatches(16));
        assertEquals(4, every4.forBatches(4).holdoutEvery()); // batch 3 of 4
        assertEquals(3, every4.forBatches(3).holdoutEvery()); // batch 2, the last
        assertEquals(2, every4.forBatches(2).holdoutEvery());
        assertEquals(4, every4.forBatches(1).holdoutEvery()); // one batch: none of it held out
        assertEquals(0, new BlockFitter.Options(1e-3, 0, PartialPrecision.AUTO).forBatches(2).holdoutEvery());
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 2);
            // 3 prompts x 2 seeds in batches of 2: three batches, none of them the 4th.
            List<BlockFitter.FittedBlock> fits = BlockFitter.fit(calibration(model, 3, tiny(2)),
                    List.of(BlockId.ofDouble(0)), every4, m);
            for (String s : List.of(BlockFitter.IMG, BlockFitter.TXT)) {
                double r = fits.get(0).residuals().get(s);
                assertTrue(r > 0 && r < 1.5, s + " residual " + r);
            }
        }
    }

    @Test
    void mergingTwoHalvesEqualsOnePass() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 3);
            Calibration cal = calibration(model, 4, tiny(2));
            List<BlockId> blocks = List.of(BlockId.ofDouble(0), BlockId.ofSingle(1));
            BlockFitter.Options o = new BlockFitter.Options(0.0, 0, PartialPrecision.FP64);
            try (BlockFitter all = new BlockFitter(TinyShapes.PARAMS, blocks, o);
                    BlockFitter a = new BlockFitter(TinyShapes.PARAMS, blocks, o);
                    BlockFitter b = new BlockFitter(TinyShapes.PARAMS, blocks, o)) {
                cal.run(all);
                cal.run(a, 0, 2);
                cal.run(b, 2, 4);
                a.merge(b);
                for (BlockId id : blocks) {
                    for (String s : BlockFitter.streams(id)) {
                        LeastSquaresFit x = all.fit(id, s);
                        LeastSquaresFit y = a.fit(id, s);
                        assertEquals(x.tokens(), y.tokens());
                        assertArraysClose(x.gramData(), y.gramData(), 1e-9);
                        assertArraysClose(x.crossData(), y.crossData(), 1e-9);
                    }
                }
            }
        }
    }

    @Test
    void tooFewTokensIsAClearErrorNamingTheBlock() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 4);
            // one image, one step: the text stream has fewer tokens than hidden + 1 features
            Calibration cal = new Calibration(model.flux(), PromptCalibrationSource.sample(model, 1, 5),
                    new Calibration.Options(1, new long[] {0}, 1, 4f));
            NotPositiveDefiniteException e = assertThrows(NotPositiveDefiniteException.class,
                    () -> BlockFitter.fit(cal, List.of(BlockId.ofDouble(0)), new BlockFitter.Options(0.0, 0, PartialPrecision.FP64), m));
            assertTrue(e.blockName().startsWith("double_blocks.0/txt"), e.blockName());
            assertTrue(e.getMessage().contains("double_blocks.0"), e.getMessage());
        }
    }

    static void assertClose(AffineMap want, AffineMap got, double tol) {
        assertArraysClose(want.weight(), got.weight(), tol);
        assertArraysClose(want.bias(), got.bias(), tol);
    }

    static void assertClose(AffineMap want, Linear got, double tol) {
        assertEquals(new Shape(H, H), got.weight().value().getShape());
        assertArraysClose(want.weight(), got.weight().value().toFloatArray(), tol);
        assertArraysClose(want.bias(), got.bias().value().toFloatArray(), tol);
    }

    static void assertArraysClose(float[] want, float[] got, double tol) {
        assertEquals(want.length, got.length);
        double worst = 0;
        for (int i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] - got[i]));
        assertTrue(worst <= tol, "max |error| " + worst + " > " + tol);
    }

    static void assertArraysClose(double[] want, double[] got, double rel) {
        assertEquals(want.length, got.length);
        double scale = 0;
        for (double v : want) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], rel * scale, "entry " + i);
        }
    }
}
