package fastflux.model;

import ai.djl.ndarray.NDArray;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import fastflux.checkpoints.AtomicFiles;
import fastflux.checkpoints.DiskFullException;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import fastflux.model.io.TensorInfo;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The pruned model as a model directory. {@code config.json} holds the base {@code params} plus a
 * {@code "replaced"} list ({@code {"block": "double_blocks.3", "kind": "double", "mode": "linear"}}; mode
 * {@code linear} = BRLL linear layer(s), {@code delete} = shortcut only); {@code model.safetensors} holds the
 * kept blocks under the reference names (LoRA merged) and, for each {@code linear} block, only its linears
 * ({@code double_blocks.N.img_linear.*}, {@code double_blocks.N.txt_linear.*}, {@code single_blocks.N.linear.*}).
 * Loading ({@link ModelDir#load}) applies the list before loading weights, so a pruned directory loads as a
 * full one does.
 */
public final class PrunedModels {
    private PrunedModels() {}

    /** The config key of the replacement list. */
    public static final String REPLACED = "replaced";

    /** Top-level parameter namespaces of the transformer; other tensors in a checkpoint belong to other parts. */
    public static final List<String> FLUX_NAMESPACES = List.of("img_in.", "time_in.", "vector_in.", "guidance_in.",
            "txt_in.", "double_blocks.", "single_blocks.", "final_layer.");

    private static final Set<String> ENTRY_FIELDS = Set.of("block", "kind", "mode");

    // ------------------------------------------------------------------ slots

    /**
     * Swaps the listed slots: {@code linear} puts a {@link ReplacedDoubleBlock}/{@link ReplacedSingleBlock} (its
     * linears still without values: load them or fit them), {@code delete} a shortcut block. A slot that already
     * holds the requested kind of layer is kept as it is (with its trained linear). Returns the layers taken out,
     * still open: their arrays belong to the manager that loaded them.
     */
    public static List<Module> apply(FluxModel model, List<Replacement> replacements) {
        Set<BlockId> seen = new java.util.HashSet<>();
        for (Replacement r : replacements) {
            if (!seen.add(r.block())) throw new IllegalArgumentException("block " + r.block() + " is replaced twice");
            slot(model, r.block()); // range check before anything changes
        }
        int hidden = model.config().hiddenSize();
        List<Module> removed = new ArrayList<>();
        for (Replacement r : replacements) {
            BlockId id = r.block();
            String prefix = id.name() + ".";
            Module current = slot(model, id);
            if (modeOf(current) == r.mode()) continue;
            if (id.kind() == BlockId.Kind.DOUBLE) {
                removed.add(model.setDouble(id.index(), r.mode() == Replacement.Mode.LINEAR
                        ? new ReplacedDoubleBlock(prefix, hidden) : new ShortcutDoubleBlock(prefix)));
            } else {
                removed.add(model.setSingle(id.index(), r.mode() == Replacement.Mode.LINEAR
                        ? new ReplacedSingleBlock(prefix, hidden) : new ShortcutSingleBlock(prefix)));
            }
        }
        return removed;
    }

    /** The model's replaced slots in forward order (empty for the full model). */
    public static List<Replacement> replacements(FluxModel model) {
        List<Replacement> out = new ArrayList<>();
        for (int i = 0; i < model.doubleBlocks().size(); i++) add(out, BlockId.ofDouble(i), model.doubleBlocks().get(i));
        for (int i = 0; i < model.singleBlocks().size(); i++) add(out, BlockId.ofSingle(i), model.singleBlocks().get(i));
        return out;
    }

    private static void add(List<Replacement> out, BlockId id, Module layer) {
        Replacement.Mode mode = modeOf(layer);
        if (mode != null) out.add(new Replacement(id, mode));
    }

    /** LINEAR, DELETE, or null for an original block. */
    private static Replacement.Mode modeOf(Module layer) {
        if (layer instanceof ReplacedDoubleBlock || layer instanceof ReplacedSingleBlock) return Replacement.Mode.LINEAR;
        if (layer instanceof ShortcutDoubleBlock || layer instanceof ShortcutSingleBlock) return Replacement.Mode.DELETE;
        if (layer instanceof DoubleStreamBlock || layer instanceof SingleStreamBlock) return null;
        throw new IllegalStateException("slot " + layer.prefix() + " holds a " + layer.getClass().getName()
                + ", which a pruned directory cannot describe");
    }

    /** The layer in a block's slot. */
    static Module slot(FluxModel model, BlockId id) {
        List<? extends Module> list = id.kind() == BlockId.Kind.DOUBLE ? model.doubleBlocks() : model.singleBlocks();
        if (id.index() >= list.size()) {
            throw new IllegalArgumentException("unknown block " + id + ": this model has " + list.size() + " "
                    + (id.kind() == BlockId.Kind.DOUBLE ? "double_blocks" : "single_blocks"));
        }
        return list.get(id.index());
    }

    /** The linear layers of whatever a slot holds, by prefix (none for a shortcut). */
    static Map<String, Linear> slotLinears(Module slot) {
        if (slot instanceof DoubleStreamBlock d) return d.linears();
        if (slot instanceof SingleStreamBlock s) return s.linears();
        Map<String, Linear> m = new LinkedHashMap<>();
        if (slot instanceof ReplacedDoubleBlock r) {
            m.put(r.imgLinear.prefix(), r.imgLinear);
            m.put(r.txtLinear.prefix(), r.txtLinear);
        } else if (slot instanceof ReplacedSingleBlock r) {
            m.put(r.linear.prefix(), r.linear);
        }
        return m;
    }

    /** Every linear layer of the model, by prefix, in forward order (exporters merge their adapters). */
    public static Map<String, Linear> allLinears(FluxModel model) {
        Map<String, Linear> m = new LinkedHashMap<>();
        List<Linear> head = new ArrayList<>(List.of(model.imgIn, model.timeIn.inLayer, model.timeIn.outLayer,
                model.vectorIn.inLayer, model.vectorIn.outLayer));
        if (model.guidanceIn != null) head.addAll(List.of(model.guidanceIn.inLayer, model.guidanceIn.outLayer));
        head.add(model.txtIn);
        for (Linear l : head) m.put(l.prefix(), l);
        for (Module b : model.doubleBlocks()) m.putAll(slotLinears(b));
        for (Module b : model.singleBlocks()) m.putAll(slotLinears(b));
        m.put(model.finalLayer.adaLN.prefix(), model.finalLayer.adaLN);
        m.put(model.finalLayer.linear.prefix(), model.finalLayer.linear);
        return m;
    }

    // ------------------------------------------------------------------ config

    /**
     * The {@code "replaced"} list of a config (empty when absent), checked against the params: every entry needs a
     * known block, its kind ({@code double}/{@code single}, matching the block) and a mode ({@code linear}/
     * {@code delete}); a block may appear once.
     */
    public static List<Replacement> readReplaced(JsonObject config, FluxParams p) {
        JsonElement list = config.get(REPLACED);
        if (list == null || list.isJsonNull()) return List.of();
        if (!list.isJsonArray()) {
            throw new IllegalArgumentException("\"replaced\" must be a list of {\"block\", \"kind\", \"mode\"} objects, got " + list);
        }
        List<Replacement> out = new ArrayList<>();
        Map<BlockId, Integer> seenAt = new HashMap<>();
        JsonArray arr = list.getAsJsonArray();
        for (int i = 0; i < arr.size(); i++) {
            String where = "replaced[" + i + "]";
            JsonElement e = arr.get(i);
            if (!e.isJsonObject()) throw new IllegalArgumentException(where + ": expected an object, got " + e);
            JsonObject o = e.getAsJsonObject();
            for (String k : o.keySet()) {
                if (!ENTRY_FIELDS.contains(k)) {
                    throw new IllegalArgumentException(where + ": unknown field \"" + k + "\" (expected block, kind, mode)");
                }
            }
            BlockId block;
            try {
                block = BlockId.parse(string(o, "block", where), p);
            } catch (IllegalArgumentException ex) {
                if (ex.getMessage().startsWith(where)) throw ex;
                throw new IllegalArgumentException(where + ": " + ex.getMessage(), ex);
            }
            String kind = string(o, "kind", where);
            BlockId.Kind k = switch (kind) {
                case "double" -> BlockId.Kind.DOUBLE;
                case "single" -> BlockId.Kind.SINGLE;
                default -> throw new IllegalArgumentException(where + ": unknown kind \"" + kind + "\" (expected double or single)");
            };
            if (k != block.kind()) {
                throw new IllegalArgumentException(where + ": block " + block + " is a "
                        + block.kind().name().toLowerCase(java.util.Locale.ROOT) + " block but kind is \"" + kind + "\"");
            }
            String mode = string(o, "mode", where);
            Replacement.Mode m = switch (mode) {
                case "linear" -> Replacement.Mode.LINEAR;
                case "delete" -> Replacement.Mode.DELETE;
                default -> throw new IllegalArgumentException(where + ": unknown mode \"" + mode + "\" (expected linear or delete)");
            };
            Integer before = seenAt.putIfAbsent(block, i);
            if (before != null) {
                throw new IllegalArgumentException(where + ": block " + block + " is listed twice (also replaced[" + before + "])");
            }
            out.add(new Replacement(block, m));
        }
        return out;
    }

    private static String string(JsonObject o, String field, String where) {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) throw new IllegalArgumentException(where + ": missing \"" + field + "\"");
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new IllegalArgumentException(where + ": \"" + field + "\" must be a string, got " + e);
        }
        return e.getAsString();
    }

    /** The config form of a replacement list. */
    public static JsonArray toJson(List<Replacement> replacements) {
        JsonArray arr = new JsonArray();
        for (Replacement r : replacements) {
            JsonObject o = new JsonObject();
            o.addProperty("block", r.block().name());
            o.addProperty("kind", r.kindName());
            o.addProperty("mode", r.mode().jsonName());
            arr.add(o);
        }
        return arr;
    }

    /** {@code double_blocks.1 (linear), single_blocks.0 (delete)}, or {@code none}. */
    public static String describe(List<Replacement> replacements) {
        if (replacements.isEmpty()) return "none";
        List<String> parts = new ArrayList<>();
        for (Replacement r : replacements) parts.add(r.block() + " (" + r.mode().jsonName() + ")");
        return String.join(", ", parts);
    }

    // ------------------------------------------------------------------ export

    /** {@link #export(FluxModel, Map, Path, Path)} with no live parameters outside the transformer. */
    public static void export(FluxModel model, Path baseDir, Path outDir) {
        export(model, Map.of(), baseDir, outDir);
    }

    /**
     * Writes {@code model} (slots replaced, kept layers possibly carrying LoRA) as a pruned directory
     * {@code outDir}, next to the directory {@code baseDir} it was loaded from. The live model is not changed:
     * adapters are merged ({@code W + scale·B·A}, in fp32) into the written weights only.
     *
     * <ul>
     *   <li>Every tensor keeps the base checkpoint's dtype (bf16 stays bf16, rounded to nearest even; f16 stays
     *       f16; f32 stays f32); new tensors (the replaced blocks' linears) take the dtype most of the base's
     *       transformer tensors have. The base file's metadata is kept.</li>
     *   <li>Tensors of the base outside the transformer's namespaces (e.g. {@code text_encoder.*}) are kept:
     *       written from {@code extraParams} when given there (their live values), copied unchanged otherwise.</li>
     *   <li>{@code config.json} is the base's with every key kept (e.g. {@code sampling}, {@code model_type}) and
     *       {@code "replaced"} set to the model's slots.</li>
     * </ul>
     *
     * <p>All tensors are held in memory (as float[]) until the file is written.
     *
     * @throws IllegalArgumentException if the model's params differ from the base's, a parameter has no value
     *     (a replaced linear not fitted yet), or {@code outDir} is {@code baseDir}
     * @throws DiskFullException if {@code outDir}'s file system is full (a file already there stays as it was)
     */
    public static void export(FluxModel model, Map<String, Param> extraParams, Path baseDir, Path outDir) {
        JsonObject baseConfig = ModelDir.readConfig(baseDir);
        FluxParams baseParams = ModelDir.readParams(baseDir);
        if (!baseParams.equals(model.config())) {
            throw new IllegalArgumentException("cannot export: the model's params " + model.config()
                    + " differ from " + baseDir + "'s " + baseParams);
        }
        if (sameDirectory(baseDir, outDir)) {
            throw new IllegalArgumentException("cannot export " + baseDir + " over itself: choose another directory");
        }
        Map<String, Param> flux = model.params();
        for (String name : extraParams.keySet()) {
            if (isFlux(name)) throw new IllegalArgumentException("extra parameter " + name + " lies in the transformer's namespace");
        }
        for (Param p : flux.values()) {
            if (!p.hasValue()) {
                throw new IllegalArgumentException("cannot export: parameter " + p.name()
                        + " has no value (fit or load the replaced block's linear first)");
            }
        }
        Map<String, Linear> adapted = new HashMap<>();
        for (Linear l : allLinears(model).values()) if (l.lora() != null) adapted.put(l.weight().name(), l);

        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsReader base = SafetensorsReader.open(ModelDir.weightsFile(baseDir))) {
            base.metadata().forEach(w::metadata);
            DType fallback = dominantFluxDtype(base);
            // The base file's order first (a model with nothing replaced rewrites its base as it was), then the
            // tensors new to it: the replaced blocks' linears, extra parameters the base lacks.
            for (String name : base.names()) {
                TensorInfo info = base.info(name);
                if (isFlux(name)) {
                    Param p = flux.get(name);
                    if (p != null) addFlux(w, p, info.dtype(), adapted.get(name));
                    continue; // else: a heavy weight of a replaced block, gone
                }
                Param live = extraParams.get(name);
                if (live != null) {
                    w.add(name, live.value(), info.dtype());
                } else if (info.dtype() == DType.I64) {
                    w.add(name, info.shape(), base.readLongs(name));
                } else {
                    w.add(name, info.dtype(), info.shape(), base.readFloats(name));
                }
            }
            for (Param p : flux.values()) {
                if (!base.contains(p.name())) addFlux(w, p, fallback, adapted.get(p.name()));
            }
            for (Param p : extraParams.values()) {
                if (!base.contains(p.name())) w.add(p.name(), p.value(), fallback);
            }
        }

        JsonObject config = baseConfig.deepCopy();
        config.add("params", FluxParamsJson.toJson(model.config()));
        config.add(REPLACED, toJson(replacements(model)));
        try {
            Files.createDirectories(outDir);
            w.write(outDir.resolve("model.safetensors"));
            AtomicFiles.writeString(outDir.resolve("config.json"),
                    new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(config));
        } catch (DiskFullException e) {
            throw e.during("cannot export the pruned model to " + outDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot export the pruned model to " + outDir, e);
        }
    }

    /** A transformer parameter, its adapter (if any) merged in. */
    private static void addFlux(SafetensorsWriter w, Param p, DType dtype, Linear adapted) {
        if (adapted == null) {
            w.add(p.name(), p.value(), dtype);
            return;
        }
        try (NDArray merged = LoraInjector.mergedWeight(adapted)) {
            w.add(p.name(), merged, dtype);
        }
    }

    private static boolean isFlux(String name) {
        return FLUX_NAMESPACES.stream().anyMatch(name::startsWith);
    }

    /** The dtype most of the base's transformer tensors have (F32 if it has none). */
    private static DType dominantFluxDtype(SafetensorsReader base) {
        Map<DType, Integer> count = new EnumMap<>(DType.class);
        for (String name : base.names()) {
            DType dt = base.info(name).dtype();
            if (isFlux(name) && dt.isFloating()) count.merge(dt, 1, Integer::sum);
        }
        return count.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse(DType.F32);
    }

    private static boolean sameDirectory(Path a, Path b) {
        try {
            return Files.exists(b) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
        }
    }
}
