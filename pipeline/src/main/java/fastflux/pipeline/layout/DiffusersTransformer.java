package fastflux.pipeline.layout;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.Param;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import fastflux.model.Tensors;
import fastflux.model.io.SafetensorsReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The {@code transformer/} folder of a diffusers FluxPipeline, read as a BFL checkpoint: {@code config.json} gives
 * the {@link FluxParams}, and each BFL tensor is assembled from its diffusers tensors ({@link DiffusersKeys}) when
 * it is read, so at most one tensor's worth of converted data exists beside the model. Weights come from one
 * {@code diffusion_pytorch_model.safetensors} or from the shards that its {@code .index.json} lists. A pruned
 * transformer's config lists its replaced blocks ({@link DiffusersConfig#replaced}); they load as fastflux's.
 */
public final class DiffusersTransformer implements AutoCloseable {
    static final String SINGLE_FILE = "diffusion_pytorch_model.safetensors";
    static final String INDEX_FILE = SINGLE_FILE + ".index.json";

    private final Path dir;
    private final FluxParams params;
    private final List<Replacement> replaced;
    private final Path listing; // the index file, or the single weights file
    private final Map<String, SafetensorsReader> readerOf = new TreeMap<>(); // diffusers key -> its shard
    private final List<SafetensorsReader> readers = new ArrayList<>();
    private final Map<String, Path> listedMissing = new TreeMap<>(); // in the index, absent from its shard

    private DiffusersTransformer(Path dir, FluxParams params, List<Replacement> replaced, Path listing) {
        this.dir = dir;
        this.params = params;
        this.replaced = List.copyOf(replaced);
        this.listing = listing;
    }

    /**
     * Reads the config and the shard headers of {@code transformerDir}; refuses quantized shards by name.
     *
     * @throws IllegalArgumentException naming the file that is missing or malformed
     */
    public static DiffusersTransformer open(Path transformerDir) {
        Path config = transformerDir.resolve("config.json");
        if (!Files.isRegularFile(config)) {
            throw new IllegalArgumentException("diffusers transformer folder " + transformerDir + " has no config.json");
        }
        JsonObject configJson = readJson(config);
        FluxParams params = DiffusersConfig.toParams(configJson, config.toString());
        List<Replacement> replaced = DiffusersConfig.replaced(configJson, params, config.toString());
        QuantizedCheckpoints.refuseGguf(transformerDir);
        Map<Path, List<String>> shards = new LinkedHashMap<>();
        Path index = transformerDir.resolve(INDEX_FILE);
        Path single = transformerDir.resolve(SINGLE_FILE);
        Path listing;
        if (Files.isRegularFile(index)) {
            listing = index;
            JsonObject root = readJson(index);
            if (!root.has("weight_map") || !root.get("weight_map").isJsonObject()) {
                throw new IllegalArgumentException(index + ": missing object \"weight_map\"");
            }
            for (Map.Entry<String, JsonElement> e : root.getAsJsonObject("weight_map").entrySet()) {
                Path shard = transformerDir.resolve(e.getValue().getAsString());
                shards.computeIfAbsent(shard, s -> new ArrayList<>()).add(e.getKey());
            }
        } else if (Files.isRegularFile(single)) {
            listing = single;
            shards.put(single, null);
        } else {
            throw new IllegalArgumentException("diffusers transformer folder " + transformerDir + " has neither "
                    + INDEX_FILE + " nor " + SINGLE_FILE);
        }
        DiffusersTransformer t = new DiffusersTransformer(transformerDir, params, replaced, listing);
        try {
            for (var e : shards.entrySet()) {
                Path shard = e.getKey();
                if (!Files.isRegularFile(shard)) {
                    throw new IllegalArgumentException(index + " lists " + shard.getFileName() + ", which is missing");
                }
                QuantizedCheckpoints.refuse(SafetensorsHeader.read(shard));
                SafetensorsReader r = SafetensorsReader.open(shard);
                t.readers.add(r);
                for (String key : e.getValue() == null ? r.names() : e.getValue()) {
                    if (r.contains(key)) t.readerOf.put(key, r);
                    else t.listedMissing.put(key, shard);
                }
            }
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
        return t;
    }

    /** A JSON object file of the layout (a config or an index), its faults named with the file. */
    static JsonObject readJson(Path file) {
        try {
            JsonElement e = JsonParser.parseString(Files.readString(file));
            if (!e.isJsonObject()) throw new IllegalArgumentException(file + ": expected a JSON object");
            return e.getAsJsonObject();
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot read " + file, ex);
        } catch (JsonParseException ex) {
            throw new IllegalArgumentException(file + ": invalid JSON: " + ex.getMessage(), ex);
        }
    }

    public Path dir() {
        return dir;
    }

    public FluxParams params() {
        return params;
    }

    /** The blocks its config lists as replaced (a pruned transformer, docs/export-format.md); empty for a full one. */
    public List<Replacement> replaced() {
        return replaced;
    }

    /** The diffusers tensor names the folder holds. */
    public Set<String> diffusersNames() {
        return readerOf.keySet();
    }

    /**
     * Checks that the folder holds exactly the diffusers tensors of the given BFL ones, with their shapes.
     *
     * @param expected BFL name -> shape (a model's {@code expectedShapes()})
     * @throws IllegalArgumentException naming every missing, unexpected and mis-shaped diffusers tensor and its file
     */
    public void check(Map<String, Shape> expected) {
        List<String> missing = new ArrayList<>();
        List<String> misShaped = new ArrayList<>();
        Set<String> used = new HashSet<>();
        for (var e : expected.entrySet()) {
            long[] bflShape = e.getValue().getShape();
            for (DiffusersKeys.Rows rows : DiffusersKeys.sources(e.getKey(), bflShape, params)) {
                if (!used.add(rows.key())) continue; // the swapped halves name one tensor twice
                SafetensorsReader r = readerOf.get(rows.key());
                if (r == null) {
                    Path shard = listedMissing.get(rows.key());
                    missing.add(rows.key() + " (for " + e.getKey()
                            + (shard == null ? "" : "; listed in the index but absent from " + shard.getFileName()) + ")");
                    continue;
                }
                long[] want = bflShape.clone();
                if (want.length > 0) want[0] = rows.sourceRows();
                long[] got = r.info(rows.key()).shape();
                if (!Arrays.equals(want, got)) {
                    misShaped.add(rows.key() + " " + Arrays.toString(got) + " in " + r.file().getFileName()
                            + " (expected " + Arrays.toString(want) + " for " + e.getKey() + ")");
                }
            }
        }
        List<String> unexpected = new ArrayList<>();
        for (var e : readerOf.entrySet()) {
            if (!used.contains(e.getKey())) unexpected.add(e.getKey() + " (" + e.getValue().file().getFileName() + ")");
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !misShaped.isEmpty()) {
            StringBuilder sb = new StringBuilder("diffusers checkpoint " + listing + " does not match the model "
                    + params + ":");
            if (!missing.isEmpty()) sb.append("\n  missing (").append(missing.size()).append("): ").append(String.join(", ", missing));
            if (!unexpected.isEmpty()) sb.append("\n  unexpected (").append(unexpected.size()).append("): ").append(String.join(", ", unexpected));
            if (!misShaped.isEmpty()) sb.append("\n  wrong shape (").append(misShaped.size()).append("): ").append(String.join(", ", misShaped));
            throw new IllegalArgumentException(sb.toString());
        }
    }

    /** The BFL tensor {@code bflName} of shape {@code bflShape}, assembled from its diffusers rows, row-major. */
    public float[] read(String bflName, long[] bflShape) {
        long numel = 1;
        for (long d : bflShape) numel *= d;
        long rowLength = bflShape.length == 0 ? 1 : numel / bflShape[0];
        float[] out = new float[Math.toIntExact(numel)];
        int at = 0;
        String cachedKey = null;
        float[] cached = null;
        for (DiffusersKeys.Rows rows : DiffusersKeys.sources(bflName, bflShape, params)) {
            if (!rows.key().equals(cachedKey)) {
                SafetensorsReader r = readerOf.get(rows.key());
                if (r == null) throw new IllegalArgumentException("diffusers checkpoint " + listing + " has no "
                        + rows.key() + " (for " + bflName + ")");
                cached = r.readFloats(rows.key());
                cachedKey = rows.key();
            }
            int n = Math.toIntExact(rows.count() * rowLength);
            System.arraycopy(cached, Math.toIntExact(rows.from() * rowLength), out, at, n);
            at += n;
        }
        if (at != out.length) {
            throw new IllegalArgumentException("diffusers checkpoint " + listing + ": the rows for " + bflName
                    + " fill " + at + " of " + out.length + " values");
        }
        return out;
    }

    /**
     * A model of this folder's params with its weights loaded in {@code dtype} (FLOAT32 or FLOAT16), one tensor
     * converted at a time.
     */
    public FluxModel load(NDManager manager, DataType dtype) {
        return load(manager, dtype, name -> true);
    }

    /** As {@link #load(NDManager, DataType)}, every tensor checked but only the parameters {@code only} accepts read. */
    public FluxModel load(NDManager manager, DataType dtype, java.util.function.Predicate<String> only) {
        if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT16) {
            throw new IllegalArgumentException("weights load as FLOAT32 or FLOAT16, not " + dtype);
        }
        FluxModel model = new FluxModel(params);
        PrunedModels.apply(model, replaced);
        try {
            check(model.expectedShapes());
        } catch (IllegalArgumentException e) {
            if (replaced.isEmpty()) throw e;
            throw new IllegalArgumentException(e.getMessage() + "\n  (config.json \"replaced\": "
                    + PrunedModels.describe(replaced) + ")", e);
        }
        for (Param p : model.params().values()) {
            if (!only.test(p.name())) continue;
            NDArray v = Tensors.create(manager, read(p.name(), p.shape().getShape()), p.shape());
            if (dtype == DataType.FLOAT32) {
                p.set(v);
            } else {
                p.set(v.toType(dtype, false));
                v.close();
            }
        }
        model.setDtype(dtype);
        return model;
    }

    @Override
    public void close() {
        for (SafetensorsReader r : readers) r.close();
        readers.clear();
    }
}
