package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Puts LoRA adapters on the linear layers of kept blocks, as Sandwich Training does on the neighbours of a
 * replaced block (paper §3.2, Figure 3): rank and alpha configurable, A random (seeded), B zero, so a fresh
 * adapter leaves the block's output unchanged. A layer that already carries an adapter keeps it (it is
 * trained further, never stacked). {@link #merge} folds adapters into the weights; {@link #remove} drops them.
 */
public final class LoraInjector {
    private final int rank;
    private final float alpha;
    private final long seed;

    public LoraInjector(int rank, float alpha, long seed) {
        if (rank <= 0) throw new IllegalArgumentException("LoRA rank must be positive, got " + rank);
        if (!(alpha > 0)) throw new IllegalArgumentException("LoRA alpha must be positive, got " + alpha);
        this.rank = rank;
        this.alpha = alpha;
        this.seed = seed;
    }

    public int rank() {
        return rank;
    }

    public float alpha() {
        return alpha;
    }

    /**
     * Puts an adapter on every linear layer of a kept block ({@link DoubleStreamBlock#linears()},
     * {@link SingleStreamBlock#linears()}), created in {@code manager} in fp32 whatever the model's dtype (what is
     * trained keeps fp32). Returns the block's adapters by linear prefix, the ones it already had included.
     *
     * @throws IllegalArgumentException if the block is replaced or deleted (its linear is trained in full)
     */
    public Map<String, LoRA> inject(FluxModel model, BlockId block, NDManager manager) {
        Map<String, Linear> linears = linears(model, block);
        // Adapters are trained, so they are fp32 whatever the model's compute dtype (LoRA.delta casts around them).
        DataType dtype = DataType.FLOAT32;
        Map<String, LoRA> out = new LinkedHashMap<>();
        int i = 0;
        for (Map.Entry<String, Linear> e : linears.entrySet()) {
            Linear l = e.getValue();
            if (l.lora() == null) {
                // A distinct seed per layer and block, so same-shaped layers do not share their A.
                long layerSeed = seed + 1_000L * block.position(model.config()) + i;
                l.setLora(new LoRA(e.getKey(), l.in(), l.out(), rank, alpha, manager, dtype, layerSeed));
            }
            out.put(e.getKey(), l.lora());
            i++;
        }
        return out;
    }

    /** The linear layers of a kept block, by parameter prefix (the LoRA targets). */
    public static Map<String, Linear> linears(FluxModel model, BlockId block) {
        Module slot = PrunedModels.slot(model, block);
        if (slot instanceof DoubleStreamBlock d) return d.linears();
        if (slot instanceof SingleStreamBlock s) return s.linears();
        throw new IllegalArgumentException("block " + block + " is not a kept block (its slot holds "
                + slot.getClass().getSimpleName() + "): LoRA goes on kept blocks only");
    }

    /** The adapter parameters ({@code <linear>.lora_A}, {@code <linear>.lora_B}) of one block, by name. */
    public static Map<String, Param> trainableParams(FluxModel model, BlockId block) {
        Map<String, Param> out = new LinkedHashMap<>();
        for (Linear l : PrunedModels.slotLinears(PrunedModels.slot(model, block)).values()) putAdapter(out, l);
        return out;
    }

    /** The adapter parameters of a block's layer, in the model or taken out of it (a replaced block's original). */
    public static Map<String, Param> adapterParams(Module layer) {
        Map<String, Param> out = new LinkedHashMap<>();
        for (Linear l : PrunedModels.slotLinears(layer).values()) putAdapter(out, l);
        return out;
    }

    /** The adapter parameters of every layer of the model that carries one, by name, in forward order. */
    public static Map<String, Param> trainableParams(FluxModel model) {
        Map<String, Param> out = new LinkedHashMap<>();
        for (Linear l : PrunedModels.allLinears(model).values()) putAdapter(out, l);
        return out;
    }

    private static void putAdapter(Map<String, Param> out, Linear l) {
        if (l.lora() == null) return;
        out.put(l.lora().a().name(), l.lora().a());
        out.put(l.lora().b().name(), l.lora().b());
    }

    /**
     * Folds every adapter of the block into its layer's weight, {@code W += scale·B·A} (computed in fp32, stored
     * in W's dtype), then removes the adapters and closes their arrays. The block's outputs stay the same.
     */
    public static void merge(FluxModel model, BlockId block) {
        for (Linear l : PrunedModels.slotLinears(PrunedModels.slot(model, block)).values()) {
            if (l.lora() == null) continue;
            NDArray w = l.weight().value();
            NDArray merged = mergedWeight(l);
            l.weight().set(merged.getDataType() == w.getDataType() ? merged : castAndClose(merged, w.getDataType()));
            closeAdapter(l);
        }
    }

    /** Drops the block's adapters without merging them (closing their arrays). */
    public static void remove(FluxModel model, BlockId block) {
        for (Linear l : PrunedModels.slotLinears(PrunedModels.slot(model, block)).values()) {
            if (l.lora() != null) closeAdapter(l);
        }
    }

    /** {@code W + scale·B·A} as a new FLOAT32 array (in W's manager); the layer is not changed. */
    public static NDArray mergedWeight(Linear l) {
        LoRA lora = l.lora();
        try (NDArray w = l.weight().value().toType(DataType.FLOAT32, true);
             NDArray a = lora.a().value().toType(DataType.FLOAT32, true);
             NDArray b = lora.b().value().toType(DataType.FLOAT32, true);
             NDArray ba = b.matMul(a);
             NDArray delta = Tensors.mul(ba, lora.scale())) {
            return w.add(delta);
        }
    }

    private static NDArray castAndClose(NDArray a, DataType dtype) {
        try (a) {
            return a.toType(dtype, true);
        }
    }

    private static void closeAdapter(Linear l) {
        LoRA lora = l.lora();
        l.setLora(null);
        for (Param p : new Param[] {lora.a(), lora.b()}) {
            if (p.hasValue()) p.value().close();
        }
    }
}
