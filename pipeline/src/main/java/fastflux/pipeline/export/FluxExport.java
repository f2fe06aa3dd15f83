package fastflux.pipeline.export;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import fastflux.checkpoints.AtomicFiles;
import fastflux.checkpoints.DiskFullException;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.pipeline.layout.DiffusersConfig;
import fastflux.pipeline.layout.DiffusersKeys;
import fastflux.pipeline.layout.FluxCheckpoint;
import fastflux.pipeline.layout.FluxCheckpoint.Layout;
import fastflux.pipeline.layout.SafetensorsHeader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Writes a pruned FLUX.1 transformer in the layout its base came in (docs/export-format.md):
 *
 * <ul>
 *   <li><b>diffusers</b>: a new pipeline folder. {@code transformer/} holds the pruned transformer, sharded as diffusers
 *       shards ({@code diffusion_pytorch_model-0000K-of-0000N.safetensors} and its {@code .index.json}, or one
 *       {@code diffusion_pytorch_model.safetensors} when it fits one shard) under diffusers' key names, and its
 *       {@code config.json} with the depths and the replaced blocks. The other components ({@code vae/},
 *       {@code text_encoder*}/, {@code tokenizer*}/, {@code scheduler/}, {@code model_index.json}) are absolute
 *       symbolic links to the base's, or copies ({@link ExportOptions#copy}).
 *   <li><b>BFL</b>: the transformer file (the base's file name) under BFL key names and its {@code config.json}
 *       ({@code params} and the replaced blocks; the base config's other keys, such as {@code ae_params}, kept);
 *       {@code ae.safetensors} and any text encoder folders of the base linked or copied.
 *   <li><b>fastflux</b>: the project's model directory ({@link PrunedModels#export}).
 * </ul>
 *
 * Every tensor keeps the base's dtype (bf16 stays bf16, rounded to nearest even in Java); a replaced block's linears
 * take the dtype most of the base's tensors have. LoRA adapters are merged. Deleted blocks are dropped and the kept
 * ones renumbered, so a delete-mode export is a stock FLUX.1 transformer of lower depth (the fastflux layout lists
 * them instead). The base's licence files are copied, and a model card ({@link ModelCard}) is written.
 */
public final class FluxExport {
    private FluxExport() {}

    /** What an export wrote. */
    public record Result(Layout layout, Path outDir, List<Path> transformerFiles, List<String> components,
                         List<String> licences, String dtype, FluxParams params, List<Replacement> replaced) {}

    /**
     * Writes {@code pruned} (its slots replaced, kept layers possibly carrying LoRA) as an export of
     * {@code sourceDir}, the full model it was pruned from, into {@code outDir} (created if needed; other files there,
     * such as a job's state and report, are left alone). The model is not changed.
     *
     * @throws IllegalArgumentException if the model's params differ from the source's, a parameter has no value,
     *     the source is itself pruned, or {@code outDir} is {@code sourceDir}
     * @throws DiskFullException if {@code outDir}'s file system is full
     */
    public static Result write(FluxModel pruned, Path sourceDir, Path outDir, ExportOptions options) {
        FluxCheckpoint source = FluxCheckpoint.open(sourceDir, options.layout());
        if (!source.params().equals(pruned.config())) {
            throw new IllegalArgumentException("cannot export: the model's params " + pruned.config() + " differ from "
                    + source + "'s " + source.params());
        }
        if (!source.replaced().isEmpty()) {
            throw new IllegalArgumentException("cannot export from " + sourceDir + ": it is itself pruned ("
                    + PrunedModels.describe(source.replaced()) + "); export from the full base model");
        }
        if (sameDirectory(sourceDir, outDir)) {
            throw new IllegalArgumentException("cannot export " + sourceDir + " over itself: choose another directory");
        }
        try {
            Files.createDirectories(outDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + outDir + ": " + e.getMessage(), e);
        }
        PrunedTensors tensors = new PrunedTensors(pruned);
        Result r;
        try {
            r = switch (source.layout()) {
                case BFL -> writeBfl(tensors, source, outDir, options);
                case DIFFUSERS -> writeDiffusers(tensors, source, outDir, options);
                case FASTFLUX -> writeFastflux(pruned, tensors, source, outDir);
            };
        } catch (DiskFullException e) {
            throw e.during("cannot export the pruned model to " + outDir);
        }
        List<String> licences = Components.copyLicences(sourceDir, outDir);
        r = new Result(r.layout(), r.outDir(), r.transformerFiles(), r.components(), licences, r.dtype(), r.params(), r.replaced());
        String base = options.baseModel() != null ? options.baseModel()
                : sourceDir.toAbsolutePath().normalize().getFileName().toString();
        List<String> replaced = new ArrayList<>();
        for (Replacement x : tensors.baseReplaced()) replaced.add(x.block().name() + " (" + x.mode().jsonName() + ")");
        Set<Replacement.Mode> modes = new LinkedHashSet<>();
        tensors.baseReplaced().forEach(x -> modes.add(x.mode()));
        String mode = modes.isEmpty() ? "none" : modes.size() == 1 ? modes.iterator().next().jsonName() : "mixed";
        ModelCard.Facts facts = new ModelCard.Facts(base, source.layout().cliName(), r.dtype(), mode,
                pruned.config().blockCount(), replaced, depths(r.params(), r.replaced()), licences,
                ModelCard.licenseFields(sourceDir.resolve(ModelCard.FILE)), Map.of(), List.of());
        ModelCard.writeFacts(outDir, facts);
        ModelCard.write(outDir, facts);
        return r;
    }

    private static String depths(FluxParams p, List<Replacement> replaced) {
        String s = p.depth() + " double + " + p.depthSingleBlocks() + " single blocks";
        long linear = replaced.stream().filter(x -> x.mode() == Replacement.Mode.LINEAR).count();
        return linear == 0 ? s : s + " (" + linear + " of them linear)";
    }

    // ------------------------------------------------------------------ BFL

    private static Result writeBfl(PrunedTensors t, FluxCheckpoint source, Path outDir, ExportOptions options) {
        Path srcFile = source.weights();
        SafetensorsHeader header = SafetensorsHeader.read(srcFile);
        Map<String, String> metadata;
        try (SafetensorsReader r = SafetensorsReader.open(srcFile)) {
            metadata = new LinkedHashMap<>(r.metadata());
        }
        DType fallback = dominant(header.tensors().values().stream().map(SafetensorsHeader.Entry::dtype).toList());
        List<StreamingSafetensors.Tensor> out = new ArrayList<>();
        Set<String> dtypes = new LinkedHashSet<>();
        for (PrunedTensors.Entry e : t.entries()) {
            SafetensorsHeader.Entry src = header.tensors().get(e.baseName());
            DType dt = src != null ? DType.parse(src.dtype()) : fallback;
            dtypes.add(dt.name());
            out.add(new StreamingSafetensors.Tensor(e.name(), dt, e.shape(), () -> PrunedTensors.values(e)));
        }
        Set<String> model = t.byName().keySet();
        List<String> others = header.tensors().keySet().stream()
                .filter(k -> !model.contains(k) && PrunedModels.FLUX_NAMESPACES.stream().noneMatch(k::startsWith)).toList();
        if (!others.isEmpty()) {
            throw new IllegalArgumentException(srcFile + " holds tensors outside the transformer (" + String.join(", ", others)
                    + "); a BFL transformer file holds the transformer alone");
        }
        Path file = outDir.resolve(srcFile.getFileName().toString());
        StreamingSafetensors.write(file, metadata, out);

        Path srcConfig = source.dir().resolve("config.json");
        JsonObject config = Files.isRegularFile(srcConfig) ? readJson(srcConfig) : new JsonObject();
        config.add("params", fastflux.model.FluxParamsJson.toJson(t.params()));
        if (t.replaced().isEmpty()) config.remove(PrunedModels.REPLACED);
        else config.add(PrunedModels.REPLACED, PrunedModels.toJson(t.replaced()));
        writeJson(outDir.resolve("config.json"), config);

        List<String> components = new ArrayList<>();
        List<String> names = new ArrayList<>(List.of(fastflux.pipeline.layout.BflWeights.AUTOENCODER_FILE));
        names.addAll(List.of("text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"));
        for (String n : names) {
            if (Files.exists(source.dir().resolve(n))) {
                Components.place(source.dir(), outDir, n, options.copy());
                components.add(n);
            }
        }
        return new Result(Layout.BFL, outDir, List.of(file), components, List.of(), String.join("/", dtypes), t.params(), t.replaced());
    }

    // ------------------------------------------------------------------ diffusers

    /** Rows [dFrom, dFrom + count) of a diffusers tensor are rows [bflFrom, bflFrom + count) of a BFL tensor. */
    private record Part(PrunedTensors.Entry entry, long bflFrom, long count, long dFrom) {}

    private static final class DTensor {
        final String key;
        final long[] shape;
        final DType dtype;
        final List<Part> parts = new ArrayList<>();

        DTensor(String key, long[] shape, DType dtype) {
            this.key = key;
            this.shape = shape;
            this.dtype = dtype;
        }

        long rowLength() {
            long n = 1;
            for (int i = 1; i < shape.length; i++) n *= shape[i];
            return n;
        }

        long bytes() {
            return shape.length == 0 ? dtype.byteSize() : shape[0] * rowLength() * dtype.byteSize();
        }
    }

    static final String SHARD_PREFIX = "diffusion_pytorch_model";
    static final String SINGLE_FILE = SHARD_PREFIX + ".safetensors";
    static final String INDEX_FILE = SINGLE_FILE + ".index.json";

    private static Result writeDiffusers(PrunedTensors t, FluxCheckpoint source, Path outDir, ExportOptions options) {
        Path srcTransformer = source.weights();
        Map<String, String> srcDtypes = new LinkedHashMap<>();
        for (Path shard : shards(srcTransformer)) {
            SafetensorsHeader.read(shard).tensors().forEach((k, v) -> srcDtypes.put(k, v.dtype()));
        }
        DType fallback = dominant(List.copyOf(srcDtypes.values()));
        Map<String, DTensor> dtensors = new LinkedHashMap<>();
        for (PrunedTensors.Entry e : t.entries()) {
            long[] shape = e.shape();
            List<DiffusersKeys.Rows> rows = DiffusersKeys.sources(e.name(), shape, t.params());
            List<DiffusersKeys.Rows> baseRows = DiffusersKeys.sources(e.baseName(), shape, t.baseParams());
            long at = 0;
            for (int i = 0; i < rows.size(); i++) {
                DiffusersKeys.Rows r = rows.get(i);
                String srcDtype = srcDtypes.get(baseRows.get(i).key());
                DType dt = srcDtype != null ? DType.parse(srcDtype) : fallback;
                long[] dshape = shape.clone();
                if (dshape.length > 0) dshape[0] = r.sourceRows();
                DTensor d = dtensors.computeIfAbsent(r.key(), k -> new DTensor(k, dshape, dt));
                d.parts.add(new Part(e, at, r.count(), r.from()));
                at += r.count();
            }
        }
        for (DTensor d : dtensors.values()) {
            long rows = d.parts.stream().mapToLong(Part::count).sum();
            if (d.shape.length > 0 && rows != d.shape[0]) {
                throw new IllegalStateException("diffusers tensor " + d.key + ": its parts fill " + rows + " of " + d.shape[0] + " rows");
            }
        }
        // diffusers' sharding: in order, a new shard when the next tensor would overflow this one
        List<List<DTensor>> shards = new ArrayList<>();
        long current = 0;
        for (DTensor d : dtensors.values()) {
            if (shards.isEmpty() || (current + d.bytes() > options.maxShardBytes() && current > 0)) {
                shards.add(new ArrayList<>());
                current = 0;
            }
            shards.get(shards.size() - 1).add(d);
            current += d.bytes();
        }
        Path dir = outDir.resolve("transformer");
        try {
            if (Files.isSymbolicLink(dir)) Files.delete(dir);
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir + ": " + e.getMessage(), e);
        }
        Map<String, String> weightMap = new TreeMap<>();
        List<Path> files = new ArrayList<>();
        long total = 0;
        Set<String> dtypes = new LinkedHashSet<>();
        Cache cache = new Cache();
        for (int s = 0; s < shards.size(); s++) {
            String name = shards.size() == 1 ? SINGLE_FILE
                    : String.format(Locale.ROOT, "%s-%05d-of-%05d.safetensors", SHARD_PREFIX, s + 1, shards.size());
            List<StreamingSafetensors.Tensor> out = new ArrayList<>();
            for (DTensor d : shards.get(s)) {
                out.add(new StreamingSafetensors.Tensor(d.key, d.dtype, d.shape, () -> assemble(d, cache)));
                weightMap.put(d.key, name);
                total += d.bytes();
                dtypes.add(d.dtype.name());
            }
            Path file = dir.resolve(name);
            StreamingSafetensors.write(file, Map.of("format", "pt"), out);
            files.add(file);
        }
        if (shards.size() > 1) {
            JsonObject index = new JsonObject();
            JsonObject meta = new JsonObject();
            meta.addProperty("total_size", total);
            index.add("metadata", meta);
            JsonObject map = new JsonObject();
            weightMap.forEach(map::addProperty);
            index.add("weight_map", map);
            writeJson(dir.resolve(INDEX_FILE), index);
        }
        removeStale(dir, files);

        JsonObject config = readJson(srcTransformer.resolve("config.json"));
        config.addProperty("num_layers", t.params().depth());
        config.addProperty("num_single_layers", t.params().depthSingleBlocks());
        if (t.replaced().isEmpty()) config.remove(PrunedModels.REPLACED);
        else config.add(PrunedModels.REPLACED, DiffusersConfig.replacedJson(t.replaced()));
        writeJson(dir.resolve("config.json"), config);

        List<String> components = new ArrayList<>();
        JsonObject modelIndex = readJson(source.dir().resolve("model_index.json"));
        for (Map.Entry<String, JsonElement> e : modelIndex.entrySet()) {
            if (e.getKey().startsWith("_") || e.getKey().equals("transformer") || !e.getValue().isJsonArray()) continue;
            var v = e.getValue().getAsJsonArray();
            if (v.size() != 2 || v.get(0).isJsonNull()) continue; // diffusers writes [null, null] for an absent part
            if (!Files.exists(source.dir().resolve(e.getKey()))) continue;
            Components.place(source.dir(), outDir, e.getKey(), options.copy());
            components.add(e.getKey());
        }
        Components.place(source.dir(), outDir, "model_index.json", options.copy());
        components.add("model_index.json");
        return new Result(Layout.DIFFUSERS, outDir, files, components, List.of(), String.join("/", dtypes), t.params(), t.replaced());
    }

    /** The last BFL tensor read: a diffusers tensor's parts and its neighbours' (q, k, v) come from one BFL tensor. */
    private static final class Cache {
        PrunedTensors.Entry entry;
        float[] values;

        float[] of(PrunedTensors.Entry e) {
            if (e != entry) {
                values = null; // let the previous tensor go before the next is read
                values = PrunedTensors.values(e);
                entry = e;
            }
            return values;
        }
    }

    private static float[] assemble(DTensor d, Cache cache) {
        long rowLength = d.rowLength();
        long numel = d.shape.length == 0 ? 1 : d.shape[0] * rowLength;
        float[] out = new float[Math.toIntExact(numel)];
        for (Part p : d.parts) {
            float[] src = cache.of(p.entry());
            System.arraycopy(src, Math.toIntExact(p.bflFrom() * rowLength), out, Math.toIntExact(p.dFrom() * rowLength),
                    Math.toIntExact(p.count() * rowLength));
        }
        return out;
    }

    /** The source transformer's weight files: its index's shards, or its single file. */
    private static List<Path> shards(Path transformerDir) {
        Path index = transformerDir.resolve(INDEX_FILE);
        if (!Files.isRegularFile(index)) return List.of(transformerDir.resolve(SINGLE_FILE));
        Set<Path> out = new LinkedHashSet<>();
        for (var e : readJson(index).getAsJsonObject("weight_map").entrySet()) {
            out.add(transformerDir.resolve(e.getValue().getAsString()));
        }
        return List.copyOf(out);
    }

    /** Deletes weight files of an earlier export in {@code dir} that this one did not write. */
    private static void removeStale(Path dir, List<Path> written) {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                boolean weights = n.startsWith(SHARD_PREFIX) && (n.endsWith(".safetensors") || n.equals(INDEX_FILE));
                if (!weights || written.contains(p)) continue;
                if (n.equals(INDEX_FILE) && written.size() > 1) continue;
                Files.delete(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot tidy " + dir + ": " + e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------ fastflux

    private static Result writeFastflux(FluxModel pruned, PrunedTensors t, FluxCheckpoint source, Path outDir) {
        PrunedModels.export(pruned, source.dir(), outDir);
        Set<String> dtypes = new LinkedHashSet<>();
        SafetensorsHeader.read(outDir.resolve("model.safetensors")).tensors().values().forEach(e -> dtypes.add(e.dtype()));
        return new Result(Layout.FASTFLUX, outDir, List.of(outDir.resolve("model.safetensors")), List.of(), List.of(),
                String.join("/", dtypes), pruned.config(), t.baseReplaced());
    }

    // ------------------------------------------------------------------ helpers

    /** The floating dtype most tensors have (F32 if none). */
    private static DType dominant(List<String> dtypes) {
        Map<DType, Integer> count = new EnumMap<>(DType.class);
        for (String d : dtypes) {
            try {
                DType t = DType.parse(d);
                if (t.isFloating()) count.merge(t, 1, Integer::sum);
            } catch (IllegalArgumentException ignored) {
                // a dtype fastflux does not write cannot be the linears' dtype
            }
        }
        return count.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse(DType.F32);
    }

    private static JsonObject readJson(Path file) {
        try {
            JsonElement e = com.google.gson.JsonParser.parseString(Files.readString(file));
            if (!e.isJsonObject()) throw new IllegalArgumentException(file + ": expected a JSON object");
            return e.getAsJsonObject();
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot read " + file, ex);
        } catch (com.google.gson.JsonParseException ex) {
            throw new IllegalArgumentException(file + ": invalid JSON: " + ex.getMessage(), ex);
        }
    }

    private static void writeJson(Path file, JsonObject o) {
        try {
            AtomicFiles.writeString(file, new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(o) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    private static boolean sameDirectory(Path a, Path b) {
        try {
            return Files.exists(b, LinkOption.NOFOLLOW_LINKS) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
        }
    }
}
