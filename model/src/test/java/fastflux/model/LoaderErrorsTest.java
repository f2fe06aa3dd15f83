package fastflux.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ModelDir.load and WeightLoader on broken checkpoints and configs: every problem named, in one message. */
class LoaderErrorsTest {
    // Smaller than flux-tiny-a: 1 double + 1 single block, hidden 16, 2 heads of 8 = axes 2 + 2 + 4.
    static final FluxParams P = new FluxParams(4, 4, 6, 5, 16, 2.0, 2, 1, 1, new int[] {2, 2, 4}, 10_000, true, false);

    @TempDir
    Path tmp;

    /** Writes config.json and a checkpoint of P's random weights, edited by {@code edit} (name -> writer). */
    private Path modelDir(JsonObject params, Consumer<Map<String, float[]>> edit, Map<String, long[]> shapes)
            throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("m" + System.nanoTime()));
        JsonObject cfg = new JsonObject();
        cfg.add("params", params);
        Files.writeString(dir.resolve("config.json"), cfg.toString());
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = new FluxModel(P);
            model.initRandom(m, DataType.FLOAT32, 1);
            Map<String, float[]> data = new java.util.LinkedHashMap<>();
            model.params().forEach((k, v) -> {
                data.put(k, v.value().toFloatArray());
                shapes.putIfAbsent(k, v.shape().getShape());
            });
            edit.accept(data);
            SafetensorsWriter w = new SafetensorsWriter();
            data.forEach((k, v) -> w.add(k, DType.F32, shapes.get(k), v));
            w.write(dir.resolve("model.safetensors"));
        }
        return dir;
    }

    private static String loadError(Path dir) {
        try (NDManager m = NDManager.newBaseManager()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ModelDir.load(dir, m, DataType.FLOAT32, Set.of()));
            return e.getMessage();
        }
    }

    @Test
    void aGoodCheckpointLoads() throws IOException {
        Path dir = modelDir(FluxParamsJson.toJson(P), d -> {}, new java.util.HashMap<>());
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = ModelDir.load(dir, m, DataType.FLOAT32, Set.of());
            assertEquals(P, model.config());
        }
    }

    @Test
    void missingUnexpectedAndMisShapedAreAllNamedInOneError() throws IOException {
        Map<String, long[]> shapes = new java.util.HashMap<>();
        shapes.put("single_blocks.0.linear2.bias", new long[] {4, 4}); // 16 values, declared [16]
        shapes.put("extra.weight", new long[] {3});
        Path dir = modelDir(FluxParamsJson.toJson(P), d -> {
            d.remove("double_blocks.0.img_attn.proj.weight");
            d.put("extra.weight", new float[3]);
        }, shapes);
        String msg = loadError(dir);
        assertTrue(msg.contains("missing (1): double_blocks.0.img_attn.proj.weight"), msg);
        assertTrue(msg.contains("unexpected (1): extra.weight"), msg);
        assertTrue(msg.contains("wrong shape (1): single_blocks.0.linear2.bias (4, 4) (expected (16))"), msg);
    }

    @Test
    void otherNamespacesAreNotUnexpected() throws IOException {
        Map<String, long[]> shapes = new java.util.HashMap<>();
        shapes.put("text_encoder.w", new long[] {2});
        Path dir = modelDir(FluxParamsJson.toJson(P), d -> d.put("text_encoder.w", new float[2]), shapes);
        try (NDManager m = NDManager.newBaseManager()) {
            assertDoesNotThrow(() -> ModelDir.load(dir, m, DataType.FLOAT32, Set.of("text_encoder.")));
        }
        assertTrue(loadError(dir).contains("unexpected (1): text_encoder.w"));
    }

    private String configError(Consumer<JsonObject> edit) throws IOException {
        JsonObject params = FluxParamsJson.toJson(P);
        edit.accept(params);
        return loadError(modelDir(params, d -> {}, new java.util.HashMap<>()));
    }

    @Test
    void missingAndUnknownConfigFieldsAreNamed() throws IOException {
        String msg = configError(o -> {
            o.remove("theta");
            o.addProperty("hidden", 16);
        });
        assertTrue(msg.contains("config.json"), msg);
        assertTrue(msg.contains("missing \"theta\""), msg);
        assertTrue(msg.contains("unknown field \"hidden\""), msg);
    }

    @Test
    void hiddenNotDivisibleByHeads() throws IOException {
        String msg = configError(o -> o.addProperty("num_heads", 3));
        assertTrue(msg.contains("hidden_size 16 is not divisible by num_heads 3"), msg);
    }

    @Test
    void axesMustSumToHeadDim() throws IOException {
        String msg = configError(o -> {
            JsonArray axes = new JsonArray();
            for (int a : new int[] {2, 2, 2}) axes.add(a);
            o.add("axes_dim", axes);
        });
        assertTrue(msg.contains("sum(axes_dim) [2, 2, 2] = 6 must equal head_dim 8"), msg);
    }

    @Test
    void wrongTypeAndMissingParams() throws IOException {
        assertTrue(configError(o -> o.addProperty("depth", 1.5)).contains("\"depth\" must be an integer"));
        Path dir = Files.createDirectories(tmp.resolve("noparams"));
        Files.writeString(dir.resolve("config.json"), "{\"batch\": 1}");
        assertTrue(loadError(dir).contains("missing object \"params\""));
        Files.writeString(dir.resolve("config.json"), "{\"params\": ");
        assertTrue(loadError(dir).contains("invalid JSON"));
    }
}
