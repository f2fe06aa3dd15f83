package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import fastflux.model.BlockId;
import fastflux.model.Replacement;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PruneStateTest {
    static PruneState.BlockResult trained(int[] heldOutSteps, double[] heldOutLosses) {
        SandwichTrainer.Result t = new SandwichTrainer.Result(BlockId.ofSingle(1), BlockId.ofSingle(0), null,
                List.of("single_blocks.1.linear.weight"), 0.4, 0.1, new double[] {0.5, 0.3, 0.2, 0.15}, 12, 0, 0.6, 0.35, 6,
                heldOutSteps, heldOutLosses);
        return new PruneState.BlockResult(BlockId.ofSingle(1), Replacement.Mode.LINEAR, Map.of("joint", 0.3), Map.of(), t);
    }

    @Test
    void theHeldOutCurveIsSavedAndReadBack() {
        JsonObject json = PruneState.resultJson(trained(new int[] {0, 2, 4}, new double[] {0.6, 0.4, 0.35}));
        JsonObject t = json.getAsJsonObject("training");
        assertEquals("[0,2,4]", t.get("held_out_steps").toString());
        assertEquals("[0.6,0.4,0.35]", t.get("held_out_losses").toString());
        SandwichTrainer.Result back = PruneState.resultFromJson(json, TinyShapes.PARAMS).training();
        assertArrayEquals(new int[] {0, 2, 4}, back.heldOutSteps());
        assertArrayEquals(new double[] {0.6, 0.4, 0.35}, back.heldOutLosses(), 0.0);
        assertArrayEquals(new double[] {0.5, 0.3, 0.2, 0.15}, back.losses(), 0.0);
        assertEquals(0.35, back.heldOutFinalLoss(), 0.0);
    }

    @Test
    void aStateSavedWithoutTheCurveStillLoads() {
        JsonObject json = PruneState.resultJson(trained(new int[] {0, 2, 4}, new double[] {0.6, 0.4, 0.35}));
        json.getAsJsonObject("training").remove("held_out_steps");
        json.getAsJsonObject("training").remove("held_out_losses");
        SandwichTrainer.Result back = PruneState.resultFromJson(json, TinyShapes.PARAMS).training();
        assertEquals(0, back.heldOutSteps().length);
        assertEquals(0, back.heldOutLosses().length);
        assertEquals(0.6, back.heldOutInitialLoss(), 0.0);
        assertEquals(6, back.heldOutPairs());

        // nothing held out (a calibration file): no curve is written
        SandwichTrainer.Result plain = new SandwichTrainer.Result(BlockId.ofSingle(1), null, null, List.of(), 0.4, 0.1,
                new double[] {0.5}, 12, 0, Double.NaN, Double.NaN, 0);
        JsonObject p = PruneState.resultJson(trained(new int[0], new double[0]).withTraining(plain));
        assertTrue(!p.getAsJsonObject("training").has("held_out_steps"));
        assertEquals(0, PruneState.resultFromJson(p, TinyShapes.PARAMS).training().heldOutSteps().length);
    }
}
