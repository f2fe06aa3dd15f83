package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.checkpoints.CheckpointStore;
import fastflux.model.BlockId;
import fastflux.model.Replacement;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

    @Test
    void aVersion2StateWithoutAManifestChecksumStillLoads(@TempDir Path dir) throws Exception {
        JsonObject options = new JsonObject();
        options.addProperty("ratio", 0.34);
        PruneState s = PruneState.fresh(options, 2).withOrder(List.of(BlockId.ofSingle(1), BlockId.ofDouble(0)))
                .withCompleted(trained(new int[] {0}, new double[] {0.6})).write(dir, Map.of());
        Path manifest = PruneState.store(dir).manifestFile(s.number());
        JsonObject json = JsonParser.parseString(Files.readString(manifest)).getAsJsonObject();
        assertEquals(PruneState.VERSION, json.get("version").getAsInt());
        json.remove(CheckpointStore.MANIFEST_SHA256);
        json.addProperty("version", 2); // a version 2 manifest: no checksum of its own
        Files.writeString(manifest, json.toString());
        PruneState back = PruneState.read(dir, TinyShapes.PARAMS);
        assertEquals(List.of(BlockId.ofSingle(1), BlockId.ofDouble(0)), back.order());
        assertEquals(BlockId.ofSingle(1), back.completed().get(0).block());
        json.addProperty("version", PruneState.VERSION); // this version without its checksum: refused
        Files.writeString(manifest, json.toString());
        assertNull(PruneState.read(dir, TinyShapes.PARAMS));
    }
}
