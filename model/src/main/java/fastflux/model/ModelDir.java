package fastflux.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.model.io.SafetensorsReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * A model directory: {@code config.json} (with {@code params} in the reference's field names) and
 * {@code model.safetensors} (weights under the reference checkpoint's key names).
 */
public final class ModelDir {
    private ModelDir() {}

    public static JsonObject readConfig(Path dir) {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("model directory " + dir + " has no config.json");
        }
        try {
            JsonElement e = JsonParser.parseString(Files.readString(file));
            if (!e.isJsonObject()) throw new IllegalArgumentException(file + ": expected a JSON object");
            return e.getAsJsonObject();
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot read " + file, ex);
        } catch (com.google.gson.JsonParseException ex) {
            throw new IllegalArgumentException(file + ": invalid JSON: " + ex.getMessage(), ex);
        }
    }

    public static FluxParams readParams(Path dir) {
        JsonObject cfg = readConfig(dir);
        if (!cfg.has("params") || !cfg.get("params").isJsonObject()) {
            throw new IllegalArgumentException(dir.resolve("config.json") + ": missing object \"params\"");
        }
        return FluxParamsJson.fromJson(cfg.getAsJsonObject("params"), dir.resolve("config.json").toString());
    }

    public static Path weightsFile(Path dir) {
        Path file = dir.resolve("model.safetensors");
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("model directory " + dir + " has no model.safetensors");
        }
        return file;
    }

    /** Builds the model of the directory's config and loads its weights into {@code manager} in {@code dtype}. */
    public static FluxModel load(Path dir, NDManager manager, DataType dtype, Set<String> otherNamespaces) {
        FluxModel model = new FluxModel(readParams(dir));
        try (SafetensorsReader reader = SafetensorsReader.open(weightsFile(dir))) {
            WeightLoader.load(model.params(), reader, otherNamespaces, manager, dtype);
        }
        model.setDtype(dtype);
        return model;
    }
}
