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
import java.util.List;
import java.util.Map;
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

    /**
     * The directory's {@code "replaced"} list (empty for a full model), checked against its params.
     *
     * @throws IllegalArgumentException naming config.json and the bad entry
     */
    public static List<Replacement> readReplaced(Path dir) {
        FluxParams params = readParams(dir);
        try {
            return PrunedModels.readReplaced(readConfig(dir), params);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(dir.resolve("config.json") + ": " + e.getMessage(), e);
        }
    }

    /** The model of the directory's config with its {@code "replaced"} list applied; weights not loaded yet. */
    public static FluxModel build(Path dir) {
        List<Replacement> replaced = readReplaced(dir);
        FluxModel model = new FluxModel(readParams(dir));
        PrunedModels.apply(model, replaced);
        return model;
    }

    /**
     * Builds the model of the directory's config (a pruned directory's replaced blocks included) and loads its
     * weights into {@code manager} in {@code dtype}.
     */
    public static FluxModel load(Path dir, NDManager manager, DataType dtype, Set<String> otherNamespaces) {
        return load(dir, manager, dtype, otherNamespaces, name -> true);
    }

    /** As {@link #load(Path, NDManager, DataType, Set)}, only the parameters {@code only} accepts read (all checked). */
    public static FluxModel load(Path dir, NDManager manager, DataType dtype, Set<String> otherNamespaces,
                                 java.util.function.Predicate<String> only) {
        FluxModel model = build(dir);
        Set<String> others = new java.util.HashSet<>(otherNamespaces);
        others.addAll(companionNamespaces(dir));
        try (SafetensorsReader reader = SafetensorsReader.open(weightsFile(dir))) {
            loadWeights(model.params(), reader, others, manager, dtype, PrunedModels.replacements(model), only);
        }
        model.setDtype(dtype);
        return model;
    }

    /**
     * As {@link #load(Path, NDManager, DataType, Set)}, split over {@code devices} ({@link BlockPlacement#of}: block
     * ranges balanced by bytes, embedders on the first device, the final layer on the last): each weight is read
     * straight into a sub-manager of {@code manager} on its block's device. One device loads as the other method does.
     */
    public static FluxModel load(Path dir, NDManager manager, DataType dtype, Set<String> otherNamespaces,
                                 java.util.List<ai.djl.Device> devices) {
        if (devices.size() <= 1) return load(dir, manager, dtype, otherNamespaces);
        FluxModel model = build(dir);
        BlockPlacement placement = BlockPlacement.of(model, devices, dtype);
        java.util.List<NDManager> managers = placement.managers(manager);
        Set<String> others = new java.util.HashSet<>(otherNamespaces);
        others.addAll(companionNamespaces(dir));
        try (SafetensorsReader reader = SafetensorsReader.open(weightsFile(dir))) {
            try {
                WeightLoader.load(model.params(), reader, others, p -> placement.managerOf(p, model.config(), managers), dtype);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(e.getMessage() + "\n  (config.json \"replaced\": "
                        + PrunedModels.describe(PrunedModels.replacements(model)) + ")", e);
            }
        }
        model.setDtype(dtype);
        model.place(placement, managers);
        return model;
    }

    /** The model types whose checkpoints carry more than the transformer, and the namespaces of those extras. */
    public static final Map<String, Set<String>> COMPANIONS = Map.of("fastflux-shapes", Set.of("text_encoder."));

    /** Namespaces beside the transformer that the directory's {@code model_type} declares (none for plain FLUX). */
    public static Set<String> companionNamespaces(Path dir) {
        JsonObject cfg = readConfig(dir);
        if (!cfg.has("model_type")) return Set.of();
        return COMPANIONS.getOrDefault(cfg.get("model_type").getAsString(), Set.of());
    }

    /** {@link WeightLoader#load}, its mismatch report completed with the config's replaced blocks. */
    public static void loadWeights(Map<String, Param> params, SafetensorsReader reader, Set<String> otherNamespaces,
                                   NDManager manager, DataType dtype, List<Replacement> replaced) {
        loadWeights(params, reader, otherNamespaces, manager, dtype, replaced, name -> true);
    }

    /** As the other method, only the parameters {@code only} accepts read. */
    public static void loadWeights(Map<String, Param> params, SafetensorsReader reader, Set<String> otherNamespaces,
                                   NDManager manager, DataType dtype, List<Replacement> replaced,
                                   java.util.function.Predicate<String> only) {
        try {
            WeightLoader.load(params, reader, otherNamespaces, p -> manager, dtype, only);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage() + "\n  (config.json \"replaced\": "
                    + PrunedModels.describe(replaced) + ")", e);
        }
    }
}
