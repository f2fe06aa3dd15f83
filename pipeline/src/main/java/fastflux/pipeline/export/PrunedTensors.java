package fastflux.pipeline.export;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import fastflux.model.BlockId;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.Linear;
import fastflux.model.LoraInjector;
import fastflux.model.Param;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The pruned transformer as the tensors an export writes, under BFL names: deleted blocks are dropped and the kept
 * ones renumbered (so a delete-mode model is a stock FLUX.1 of lower depth), a replaced block keeps only its linears,
 * and every LoRA adapter is merged into its weight ({@code W + scale·B·A} in fp32) when the tensor is read. The live
 * model is not changed.
 */
final class PrunedTensors {
    /** One tensor: its name in the export, its name in the base, and where its values come from. */
    record Entry(String name, String baseName, long[] shape, Param param, Linear adapted) {}

    private static final Pattern BLOCK = Pattern.compile("(double_blocks|single_blocks)\\.(\\d+)\\.(.+)");

    private final FluxModel model;
    private final FluxParams params;
    private final List<Replacement> replaced;
    private final List<Replacement> baseReplaced;
    private final List<Entry> entries = new ArrayList<>();

    PrunedTensors(FluxModel model) {
        this.model = model;
        this.baseReplaced = PrunedModels.replacements(model);
        for (Param p : model.params().values()) {
            if (!p.hasValue()) {
                throw new IllegalArgumentException("cannot export: parameter " + p.name()
                        + " has no value (fit or load the replaced block's linear first)");
            }
        }
        Map<BlockId, Replacement.Mode> mode = new HashMap<>();
        for (Replacement r : baseReplaced) mode.put(r.block(), r.mode());
        // new index of every kept slot (an original block or a linear), per kind
        Map<String, Integer> renumber = new HashMap<>();
        List<Replacement> kept = new ArrayList<>();
        int doubles = 0, singles = 0;
        FluxParams base = model.config();
        for (int i = 0; i < base.depth(); i++) {
            BlockId id = BlockId.ofDouble(i);
            if (mode.get(id) == Replacement.Mode.DELETE) continue;
            if (mode.get(id) == Replacement.Mode.LINEAR) kept.add(Replacement.linear(BlockId.ofDouble(doubles)));
            renumber.put("double_blocks." + i, doubles++);
        }
        for (int i = 0; i < base.depthSingleBlocks(); i++) {
            BlockId id = BlockId.ofSingle(i);
            if (mode.get(id) == Replacement.Mode.DELETE) continue;
            if (mode.get(id) == Replacement.Mode.LINEAR) kept.add(Replacement.linear(BlockId.ofSingle(singles)));
            renumber.put("single_blocks." + i, singles++);
        }
        this.params = base.withDepth(doubles, singles);
        this.replaced = List.copyOf(kept);

        Map<String, Linear> adapted = new HashMap<>();
        for (Linear l : PrunedModels.allLinears(model).values()) if (l.lora() != null) adapted.put(l.weight().name(), l);
        for (Param p : model.params().values()) {
            String name = p.name();
            Matcher m = BLOCK.matcher(name);
            if (m.matches()) {
                Integer j = renumber.get(m.group(1) + "." + m.group(2));
                if (j == null) throw new IllegalStateException("parameter " + name + " of a deleted block");
                name = m.group(1) + "." + j + "." + m.group(3);
            }
            entries.add(new Entry(name, p.name(), p.shape().getShape(), p, adapted.get(p.name())));
        }
    }

    /** The export's params: the base's, with the deleted blocks taken off the depths. */
    FluxParams params() {
        return params;
    }

    /** The base's params. */
    FluxParams baseParams() {
        return model.config();
    }

    /** The export's replaced blocks (linear ones, renumbered), for its config. */
    List<Replacement> replaced() {
        return replaced;
    }

    /** The model's replaced blocks as the base numbers them (linear and deleted). */
    List<Replacement> baseReplaced() {
        return baseReplaced;
    }

    List<Entry> entries() {
        return entries;
    }

    /** Export name -> entry. */
    Map<String, Entry> byName() {
        Map<String, Entry> m = new LinkedHashMap<>();
        for (Entry e : entries) m.put(e.name(), e);
        return m;
    }

    /** The entry's values as fp32, adapter merged. */
    static float[] values(Entry e) {
        if (e.adapted() != null) {
            try (NDArray merged = LoraInjector.mergedWeight(e.adapted())) {
                return merged.toFloatArray();
            }
        }
        NDArray v = e.param().value();
        if (v.getDataType() == DataType.FLOAT32) return v.toFloatArray();
        try (NDArray fp32 = v.toType(DataType.FLOAT32, true)) {
            return fp32.toFloatArray();
        }
    }
}
