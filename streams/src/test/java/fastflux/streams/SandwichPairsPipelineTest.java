package fastflux.streams;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.model.FluxModel;
import fastflux.model.DoubleStreamLayer;
import fastflux.model.ShortcutDoubleBlock;
import fastflux.pruning.Calibration;
import fastflux.pruning.CalibrationRunner;
import fastflux.pruning.SandwichPairs;
import fastflux.pruning.SandwichTrainer;
import fastflux.pruning.PromptCalibrationSource;
import fastflux.shapes.ShapesModel;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sandwich trainer's training-pair buffer fed by the streams pipeline: the same pairs, bit for bit and in the
 * same order, as the in-process recording, with the model split across the sandwich and pairs spilling to disk.
 */
class SandwichPairsPipelineTest extends StreamsTestSystem {
    @Test
    void pairsRecordedThroughTwoShardsEqualTheInProcessOnes(@TempDir Path spill) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 11);
            FluxModel flux = model.flux();
            // double 1 (position 1) replaced: its sandwich spans positions 0..2, across the split 0-1 | 2-4, and
            // goes from the two-stream form (input of double 0) to the joint one (output of single 0)
            BlockId block = BlockId.ofDouble(1);
            DoubleStreamLayer original = flux.setDouble(1, new ShortcutDoubleBlock("double_blocks.1."));
            SandwichTrainer.Sandwich s = SandwichTrainer.plan(flux, block, 3);
            assertEquals(0, s.first());
            assertEquals(2, s.last());
            // 5 prompts x 2 seeds in batches of 4 (the last batch short), 3 steps: 30 pairs
            Calibration cal = new Calibration(flux, PromptCalibrationSource.sample(model, 5, 9),
                    new Calibration.Options(4, new long[] {0, 1}, 3, 4f));
            SandwichTrainer.Options o = SandwichTrainer.Options.defaults();
            SandwichTrainer.FreeSpace plenty = dir -> Long.MAX_VALUE;
            long recordBytes;
            try (SandwichPairs probe = SandwichTrainer.record(flux, s, original, cal, o.toBuilder().buffer(1L << 30, spill).build(),
                    plenty)) {
                recordBytes = probe.layout().bytes();
            }
            SandwichTrainer.Options small = o.toBuilder().buffer(12 * recordBytes, spill).build(); // 12 pairs in memory, 18 spilled
            try (SandwichPairs want = SandwichTrainer.record(flux, s, original, cal, small, plenty,
                    CalibrationRunner.IN_PROCESS);
                 SandwichPairs got = SandwichTrainer.record(flux, s, original, cal, small, plenty,
                         new CalibrationPipeline(mat, new CalibrationPipeline.Options(2, 2, 1)))) {
                assertEquals(30, want.size());
                assertEquals(want.size(), got.size());
                assertEquals(18, got.spilledPairs());
                assertEquals(want.layout(), got.layout());
                assertTrue(!want.layout().inJoint() && want.layout().outJoint(), want.layout().toString());
                for (long i = 0; i < want.size(); i++) assertArrayEquals(want.get(i), got.get(i), "pair " + i);
            }
            // the replacement is back in its slot after each recording
            assertTrue(flux.setDouble(1, original) instanceof ShortcutDoubleBlock);
        }
    }
}
