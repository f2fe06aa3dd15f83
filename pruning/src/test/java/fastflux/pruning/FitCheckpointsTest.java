package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.model.BlockTap;
import fastflux.shapes.ShapesModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** In-phase checkpoints of the least squares: a collection killed midway resumes and fits the same maps, bit for bit. */
class FitCheckpointsTest {
    static final List<BlockId> BLOCKS = List.of(BlockId.ofDouble(0), BlockId.ofSingle(1));

    /** Runs the calibration in-process, counting the batches folded and failing after {@code failAfter} of them (-1: never). */
    static final class KillingRunner implements CalibrationRunner {
        final int failAfter;
        final List<Integer> folded = new ArrayList<>();

        KillingRunner(int failAfter) {
            this.failAfter = failAfter;
        }

        @Override
        public void run(Calibration calibration, CalibrationConsumer consumer, java.util.Collection<BlockId> tapped) {
            calibration.run(new CalibrationConsumer() {
                @Override
                public boolean wants(int batchIndex) {
                    return consumer.wants(batchIndex);
                }

                @Override
                public void beginBatch(Calibration.Batch batch) {
                    consumer.beginBatch(batch);
                }

                @Override
                public BlockTap tap(Calibration.Step step) {
                    return consumer.tap(step);
                }

                @Override
                public void endBatch(Calibration.Batch batch) {
                    consumer.endBatch(batch);
                    folded.add(batch.index());
                    if (folded.size() == failAfter) throw new IllegalStateException("killed after batch " + batch.index());
                }
            });
        }
    }

    @Test
    void aKilledCollectionResumesFromItsLastCheckpointWithTheSameMaps(@TempDir Path dir) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 21);
            // 8 prompts x 2 seeds in batches of 2: 8 batches, every 4th held out, so 6 are folded: 0, 1, 2, 4, 5, 6
            Calibration cal = BlockFitterTest.calibration(model, 8, BlockFitterTest.tiny(2));
            BlockFitter.Options o = BlockFitter.Options.defaults();
            List<BlockFitter.FittedBlock> whole = BlockFitter.fit(cal, BLOCKS, o, m, new KillingRunner(-1), FitCheckpoints.NONE);

            FitCheckpoints c = new FitCheckpoints(dir.resolve("lsq"), 2, "blocks " + BLOCKS + " on " + cal);
            KillingRunner killed = new KillingRunner(5); // checkpoints after batches 1 and 4 (2 and 4 folded), killed after 5
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> BlockFitter.fit(cal, BLOCKS, o, m, killed, c));
            assertEquals("killed after batch 5", e.getMessage());
            assertEquals(List.of(0, 1, 2, 4, 5), killed.folded);
            assertTrue(Files.exists(dir.resolve("lsq/lsq-0002.json")), "the second checkpoint (4 batches) is written");

            KillingRunner resumed = new KillingRunner(-1);
            List<BlockFitter.FittedBlock> again = BlockFitter.fit(cal, BLOCKS, o, m, resumed, c);
            // the fit pass folds only what the checkpoint lacks (5 and 6); the held-out pass then runs batches 3 and 7
            assertEquals(List.of(5, 6, 3, 7), resumed.folded);
            assertSameMaps(whole, again);

            // a checkpoint of another collection is not taken up
            KillingRunner other = new KillingRunner(-1);
            BlockFitter.fit(cal, BLOCKS, o, m, other, new FitCheckpoints(dir.resolve("lsq"), 2, "another block"));
            assertEquals(List.of(0, 1, 2, 4, 5, 6, 3, 7), other.folded);

            FitCheckpoints.clear(dir.resolve("lsq"));
            assertEquals(List.of(), c.store().numbers());
        }
    }

    @Test
    void aJobKilledInsideItsLeastSquaresResumesThereAndExportsTheSameBytes(@TempDir Path tmp) throws Exception {
        Path base = PruneJobTest.baseModel(tmp.resolve("base"));
        // 16 prompts x 2 seeds in batches of 8: 4 batches, the last held out, so the fit folds batches 0, 1 and 2
        PruneOptions o = PruneJobTest.options(0.17).with(PruneOptions.CALIB_PROMPTS, 16).with(PruneOptions.LSQ_CHECKPOINT_EVERY, 1);
        Path straight = tmp.resolve("straight");
        try (NDManager m = NDManager.newBaseManager()) {
            new PruneJob(base, straight, o.with(PruneOptions.LSQ_CHECKPOINT_EVERY, 0), PruneJob.Listener.NONE, m).runAll(null, 1, null);
        }
        Path out = tmp.resolve("killed");
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = new PruneJob(base, out, o, PruneJob.Listener.NONE, m).calibrationRunner(new KillingRunner(2));
            assertThrows(IllegalStateException.class, () -> job.runAll(null, 1, null));
        }
        assertEquals(List.of(2, 1), new FitCheckpoints(out.resolve("state/lsq"), 1, "").store().numbers(), "sums after batches 0 and 1");
        KillingRunner resumed = new KillingRunner(-1);
        try (NDManager m = NDManager.newBaseManager()) {
            new PruneJob(base, out, o, PruneJob.Listener.NONE, m).calibrationRunner(resumed).runAll(null, 1, null);
        }
        assertEquals(List.of(2, 3), resumed.folded.subList(0, 2), "the collection resumes at batch 2, then the held-out batch");
        assertEquals(List.of(), new FitCheckpoints(out.resolve("state/lsq"), 1, "").store().numbers(), "cleared once fitted");
        assertArrayEquals(Files.readAllBytes(straight.resolve("model.safetensors")), Files.readAllBytes(out.resolve("model.safetensors")));
    }

    @Test
    void aSnapshotLoadsIntoAFreshFitExactly() {
        try (NDManager m = NDManager.newBaseManager();
             LeastSquaresFit a = new LeastSquaresFit("b/joint", 3, 2);
             LeastSquaresFit b = new LeastSquaresFit("b/joint", 3, 2)) {
            a.accumulate(m.create(new float[] {1, 2, 3, 4, 5, 7, -1, 0.5f, 2}, new ai.djl.ndarray.types.Shape(3, 3)),
                    m.create(new float[] {1, 0, 2, 1, -1, 3}, new ai.djl.ndarray.types.Shape(3, 2)));
            b.load(a.snapshot());
            assertEquals(a.tokens(), b.tokens());
            assertArrayEquals(a.snapshot().gram(), b.snapshot().gram());
            assertArrayEquals(a.snapshot().cross(), b.snapshot().cross());
            assertArrayEquals(a.snapshot().shift(), b.snapshot().shift());
            try (LeastSquaresFit wrong = new LeastSquaresFit("c/joint", 4, 2)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> wrong.load(a.snapshot()));
                assertTrue(e.getMessage().contains("does not fit 4 -> 2"), e.getMessage());
            }
        }
    }

    static void assertSameMaps(List<BlockFitter.FittedBlock> x, List<BlockFitter.FittedBlock> y) {
        assertEquals(x.size(), y.size());
        for (int i = 0; i < x.size(); i++) {
            assertEquals(x.get(i).block(), y.get(i).block());
            for (String s : x.get(i).maps().keySet()) {
                AffineMap a = x.get(i).maps().get(s);
                AffineMap b = y.get(i).maps().get(s);
                assertArrayEquals(a.weight(), b.weight(), x.get(i).block() + "/" + s + " weight");
                assertArrayEquals(a.bias(), b.bias(), x.get(i).block() + "/" + s + " bias");
                assertEquals(x.get(i).residuals().get(s), y.get(i).residuals().get(s));
            }
        }
    }
}
