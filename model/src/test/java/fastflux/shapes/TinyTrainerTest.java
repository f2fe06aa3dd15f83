package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import fastflux.model.FluxParams;
import fastflux.model.Param;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TinyTrainerTest {
    /** A micro Shapes config: 48-channel patches, 1 double + 2 single blocks. */
    static final FluxParams MICRO = new FluxParams(48, 48, 32, 32, 32, 2.0, 2, 1, 2, new int[] {4, 6, 6}, 10_000, true, false);

    static TinyTrainer.Options options() {
        return new TinyTrainer.Options(4, 1e-3, 2, 0.01, 1.0, 0.9, 0.2, 7, 3);
    }

    @Test
    void resumeContinuesBitIdentically(@TempDir Path tmp) {
        List<Float> straight;
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.fresh(MICRO, options(), m);
            t.train(6, 0, null, null);
            straight = new ArrayList<>(t.losses());
        }
        Path ckpt = tmp.resolve("ckpt");
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.fresh(MICRO, options(), m);
            t.train(3, 0, ckpt, null); // checkpoints at step 3
        }
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.resume(ckpt, m);
            assertEquals(3, t.step());
            t.train(6, 0, null, null);
            assertEquals(straight, t.losses(), "the resumed run repeats the uninterrupted run's losses exactly");
        }
        assertEquals(6, straight.size());
        assertTrue(straight.stream().allMatch(Float::isFinite));
    }

    @Test
    void checkpointIsALoadableModelWithTheEmaWeights(@TempDir Path tmp) {
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.fresh(MICRO, options(), m);
            t.train(3, 0, tmp, null);
            assertTrue(Files.isRegularFile(tmp.resolve("model.safetensors")));
            ShapesModel loaded = ShapesModel.load(tmp, m);
            Map<String, Param> raw = t.model().params();
            // EMA lags the raw weights, so at least one tensor differs after a few steps.
            boolean anyDiffers = false;
            for (var e : loaded.params().entrySet()) {
                float[] a = e.getValue().value().toFloatArray();
                float[] b = raw.get(e.getKey()).value().toFloatArray();
                if (!java.util.Arrays.equals(a, b)) anyDiffers = true;
            }
            assertTrue(anyDiffers);
        }
    }

    @Test
    void halfWrittenStateIsRefused(@TempDir Path tmp) throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.fresh(MICRO, options(), m);
            t.train(3, 0, tmp, null);
        }
        // Simulate a crash between the tensors and the JSON: the JSON claims another step.
        Path json = tmp.resolve("train-state.json");
        Files.writeString(json, Files.readString(json).replaceFirst("\"step\":3", "\"step\":5"));
        try (NDManager m = NDManager.newBaseManager()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TinyTrainer.resume(tmp, m));
            assertTrue(e.getMessage().contains("half-written"), e.getMessage());
        }
    }
}
