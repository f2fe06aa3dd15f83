package fastflux.pipeline.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Param;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Loads and saves the autoencoder's weights in either {@link AutoEncoderLayout}. Loading checks the whole file
 * first and names every missing, unexpected and mis-shaped tensor, with the file, in one error. bf16 and fp16
 * tensors are converted in Java by {@link SafetensorsReader}.
 */
public final class AutoEncoderWeights {
    private AutoEncoderWeights() {}

    /**
     * Fills {@code model}'s parameters from {@code reader} in {@code dtype} (FLOAT32 or FLOAT16), owned by
     * {@code manager}.
     *
     * @throws IllegalArgumentException naming the file and every tensor that does not match
     */
    public static void load(AutoEncoder model, SafetensorsReader reader, AutoEncoderLayout layout, NDManager manager,
                            DataType dtype) {
        int levels = model.config().levels();
        Map<String, Param> params = model.params();
        Map<String, String> keys = new LinkedHashMap<>(); // file key -> model name
        for (String name : params.keySet()) keys.put(layout.fileKey(name, levels), name);
        List<String> missing = new ArrayList<>();
        List<String> misShaped = new ArrayList<>();
        Set<String> unexpected = new TreeSet<>();
        for (String key : reader.names()) if (!keys.containsKey(key)) unexpected.add(key);
        for (Map.Entry<String, String> e : keys.entrySet()) {
            String key = e.getKey();
            Param p = params.get(e.getValue());
            if (!reader.contains(key)) {
                missing.add(key);
                continue;
            }
            Shape actual = new Shape(reader.info(key).shape());
            Shape expected = layout.fileShape(p.name(), p.shape());
            if (!actual.equals(expected)) misShaped.add(key + " " + actual + " (expected " + expected + ")");
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !misShaped.isEmpty()) {
            StringBuilder sb = new StringBuilder("autoencoder checkpoint " + reader.file() + " (" + layout
                    + " layout) does not match " + model.config() + ":");
            if (!missing.isEmpty()) sb.append("\n  missing (").append(missing.size()).append("): ").append(String.join(", ", missing));
            if (!unexpected.isEmpty()) sb.append("\n  unexpected (").append(unexpected.size()).append("): ").append(String.join(", ", unexpected));
            if (!misShaped.isEmpty()) sb.append("\n  wrong shape (").append(misShaped.size()).append("): ").append(String.join(", ", misShaped));
            throw new IllegalArgumentException(sb.toString());
        }
        for (Map.Entry<String, String> e : keys.entrySet()) {
            Param p = params.get(e.getValue());
            NDArray a = reader.load(e.getKey(), manager, dtype);
            if (!a.getShape().equals(p.shape())) {
                NDArray reshaped = a.reshape(p.shape());
                a.close(); // the view keeps the storage
                a = reshaped;
            }
            p.set(a);
        }
    }

    /** Writes {@code model}'s weights to {@code file} in {@code layout}, stored as {@code dtype}. */
    public static void save(AutoEncoder model, Path file, AutoEncoderLayout layout, DType dtype) {
        int levels = model.config().levels();
        SafetensorsWriter w = new SafetensorsWriter();
        for (Param p : model.params().values()) {
            Shape fileShape = layout.fileShape(p.name(), p.shape());
            try (NDArray v = p.value().reshape(fileShape)) {
                w.add(layout.fileKey(p.name(), levels), v, dtype);
            }
        }
        w.write(file);
    }
}
