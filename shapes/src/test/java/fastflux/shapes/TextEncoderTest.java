package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The stand-in text encoder: what its context window adds, and that checkpoints with and without it load. */
class TextEncoderTest {
    static final List<String> SWAPPED = List.of("a red circle and a blue square", "a blue circle and a red square");

    /** Largest |a_i − b_i| between the pooled vectors of the two prompts. */
    private static float pooledDifference(ShapesModel model, NDManager m) {
        float[] y = model.condition(SWAPPED, m).y().toFloatArray();
        int c = y.length / 2;
        float max = 0;
        for (int i = 0; i < c; i++) max = Math.max(max, Math.abs(y[i] - y[c + i]));
        return max;
    }

    @Test
    void theContextWindowBindsEachColourToItsShapeInThePooledVector() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel plain = ShapesModel.random(TinyTrainerTest.MICRO, m, 5, false);
            ShapesModel window = ShapesModel.random(TinyTrainerTest.MICRO, m, 5, true);
            assertFalse(plain.text().hasContextWindow());
            assertTrue(window.text().hasContextWindow());
            // the same words at other places: a bag of words (plus a fixed sum of positions) pools alike
            assertEquals(0, pooledDifference(plain, m), 1e-5f);
            assertTrue(pooledDifference(window, m) > 1e-2f, "the window's MLP sees which colour stands before which shape");
            assertEquals(plain.params().size() + 4, window.params().size(), "fc1 and fc2, weight and bias");
        }
    }

    @Test
    void aCheckpointWithTheWindowLoadsWithItAndGivesTheSameTxt(@TempDir Path tmp) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = ShapesModel.random(TinyTrainerTest.MICRO, m, 9, true);
            model.save(tmp);
            assertTrue(ShapesModel.hasContextWindow(tmp.resolve("model.safetensors")));
            ShapesModel loaded = ShapesModel.load(tmp, m);
            assertTrue(loaded.text().hasContextWindow());
            assertArrayEquals(model.condition(SWAPPED, m).txt().toFloatArray(), loaded.condition(SWAPPED, m).txt().toFloatArray());

            ShapesModel.random(TinyTrainerTest.MICRO, m, 9, false).save(tmp.resolve("plain"));
            assertFalse(ShapesModel.load(tmp.resolve("plain"), m).text().hasContextWindow(), "older checkpoints load as they were");
        }
    }
}
