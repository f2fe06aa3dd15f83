package fastflux.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.TensorInfo;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Loads parameters by name from a safetensors checkpoint, and reports every missing, unexpected and
 * mis-shaped tensor in one error instead of stopping at the first.
 */
public final class WeightLoader {
    private WeightLoader() {}

    /**
     * @param params the parameters to fill, by full name
     * @param otherNamespaces prefixes (e.g. {@code "text_encoder."}) whose tensors belong to another loader
     *     and are neither loaded nor reported as unexpected here
     */
    public static void load(Map<String, Param> params, SafetensorsReader reader, Set<String> otherNamespaces,
                            NDManager manager, DataType dtype) {
        load(params, reader, otherNamespaces, p -> manager, dtype);
    }

    /**
     * As {@link #load(Map, SafetensorsReader, Set, NDManager, DataType)}, each parameter created in the manager
     * {@code managerOf} gives it (a split model's: the manager of its block's device), so no weight is made elsewhere first.
     */
    public static void load(Map<String, Param> params, SafetensorsReader reader, Set<String> otherNamespaces,
                            java.util.function.Function<Param, NDManager> managerOf, DataType dtype) {
        load(params, reader, otherNamespaces, managerOf, dtype, name -> true);
    }

    /** As the other methods, every tensor checked but only the parameters whose names {@code only} accepts read. */
    public static void load(Map<String, Param> params, SafetensorsReader reader, Set<String> otherNamespaces,
                            java.util.function.Function<Param, NDManager> managerOf, DataType dtype,
                            java.util.function.Predicate<String> only) {
        List<String> missing = new ArrayList<>();
        List<String> misShaped = new ArrayList<>();
        Set<String> unexpected = new TreeSet<>();
        for (String name : reader.names()) {
            if (!params.containsKey(name) && otherNamespaces.stream().noneMatch(name::startsWith)) unexpected.add(name);
        }
        for (Param p : params.values()) {
            if (!reader.contains(p.name())) {
                missing.add(p.name());
                continue;
            }
            TensorInfo info = reader.info(p.name());
            Shape actual = new Shape(info.shape());
            if (!actual.equals(p.shape())) misShaped.add(p.name() + " " + actual + " (expected " + p.shape() + ")");
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !misShaped.isEmpty()) {
            StringBuilder sb = new StringBuilder("checkpoint " + reader.file() + " does not match the model:");
            if (!missing.isEmpty()) sb.append("\n  missing (").append(missing.size()).append("): ").append(String.join(", ", missing));
            if (!unexpected.isEmpty()) sb.append("\n  unexpected (").append(unexpected.size()).append("): ").append(String.join(", ", unexpected));
            if (!misShaped.isEmpty()) sb.append("\n  wrong shape (").append(misShaped.size()).append("): ").append(String.join(", ", misShaped));
            throw new IllegalArgumentException(sb.toString());
        }
        for (Param p : params.values()) {
            if (only.test(p.name())) p.set(reader.load(p.name(), managerOf.apply(p), dtype));
        }
    }
}
