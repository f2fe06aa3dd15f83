package fastflux.pipeline.t5;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.TensorInfo;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The weights of a Hugging Face model folder: one {@code model.safetensors}, or shards listed by
 * {@code model.safetensors.index.json} (its {@code weight_map}: tensor name to shard file), as the real T5-XXL
 * comes. Every shard stays open while the checkpoint does.
 */
public final class T5Checkpoint implements AutoCloseable {
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private final Path source;
    private final List<SafetensorsReader> readers;
    private final Map<String, SafetensorsReader> byName;

    private T5Checkpoint(Path source, List<SafetensorsReader> readers, Map<String, SafetensorsReader> byName) {
        this.source = source;
        this.readers = readers;
        this.byName = byName;
    }

    /** Opens {@code dir}'s single file if present, else its sharded index; the error names what is missing. */
    public static T5Checkpoint open(Path dir) {
        Path single = dir.resolve(SINGLE);
        Path index = dir.resolve(INDEX);
        if (Files.isRegularFile(single)) {
            SafetensorsReader r = SafetensorsReader.open(single);
            Map<String, SafetensorsReader> byName = new LinkedHashMap<>();
            for (String n : r.names()) byName.put(n, r);
            return new T5Checkpoint(single, List.of(r), byName);
        }
        if (Files.isRegularFile(index)) return openSharded(dir, index);
        throw new IllegalArgumentException(dir + ": no T5 weights: neither " + SINGLE + " nor " + INDEX);
    }

    private static T5Checkpoint openSharded(Path dir, Path index) {
        JsonObject weightMap;
        try (Reader r = Files.newBufferedReader(index)) {
            JsonElement root = JsonParser.parseReader(r);
            if (!root.isJsonObject() || !root.getAsJsonObject().has("weight_map")
                    || !root.getAsJsonObject().get("weight_map").isJsonObject()) {
                throw new IllegalArgumentException(index + ": not a sharded checkpoint index (no \"weight_map\" object)");
            }
            weightMap = root.getAsJsonObject().getAsJsonObject("weight_map");
        } catch (IOException | JsonParseException e) {
            throw new IllegalArgumentException(index + ": cannot read the checkpoint index: " + e.getMessage(), e);
        }
        Map<String, SafetensorsReader> shards = new LinkedHashMap<>();
        Map<String, SafetensorsReader> byName = new LinkedHashMap<>();
        List<String> problems = new ArrayList<>();
        try {
            for (Map.Entry<String, JsonElement> e : weightMap.entrySet()) {
                JsonElement v = e.getValue();
                if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
                    problems.add(e.getKey() + ": shard is not a file name: " + v);
                    continue;
                }
                String shard = v.getAsString();
                Path file = dir.resolve(shard).normalize();
                if (!java.util.Objects.equals(file.getParent(), dir.normalize())) {
                    problems.add(e.getKey() + ": shard " + shard + " is not a file in " + dir);
                    continue;
                }
                if (!shards.containsKey(shard)) {
                    if (!Files.isRegularFile(file)) {
                        problems.add(e.getKey() + ": shard " + file + " does not exist");
                        continue;
                    }
                    shards.put(shard, SafetensorsReader.open(file));
                }
                SafetensorsReader r = shards.get(shard);
                if (!r.contains(e.getKey())) problems.add(e.getKey() + ": not in its shard " + r.file());
                else byName.put(e.getKey(), r);
            }
            if (!problems.isEmpty()) {
                throw new IllegalArgumentException(index + ": the index does not match its shards:\n  "
                        + String.join("\n  ", problems));
            }
        } catch (RuntimeException e) {
            for (SafetensorsReader r : shards.values()) r.close();
            throw e;
        }
        return new T5Checkpoint(index, List.copyOf(shards.values()), byName);
    }

    /** The file that names the weights: the single safetensors file or the index. */
    public Path source() {
        return source;
    }

    public Set<String> names() {
        return byName.keySet();
    }

    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    public TensorInfo info(String name) {
        return reader(name).info(name);
    }

    /** The file holding {@code name}. */
    public Path fileOf(String name) {
        return reader(name).file();
    }

    /** The tensor as FLOAT32 or FLOAT16 (bf16 and fp16 bytes are converted in Java), owned by {@code m}. */
    public NDArray load(String name, NDManager m, DataType dtype) {
        return reader(name).load(name, m, dtype);
    }

    private SafetensorsReader reader(String name) {
        SafetensorsReader r = byName.get(name);
        if (r == null) throw new IllegalArgumentException(source + ": no tensor " + name);
        return r;
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (SafetensorsReader r : readers) {
            try {
                r.close();
            } catch (RuntimeException e) {
                if (first == null) first = e;
                else first.addSuppressed(e);
            }
        }
        if (first != null) throw first;
    }
}
