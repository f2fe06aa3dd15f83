package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Low-rank adapter {@code scale * B(A(x))}, scale = alpha / rank. A is random, B starts at zero, so a
 * fresh adapter leaves the wrapped layer's output unchanged.
 */
public final class LoRA {
    private final int rank;
    private final float scale;
    private final Param a; // [rank, in]
    private final Param b; // [out, rank]

    public LoRA(String prefix, int in, int out, int rank, float alpha, NDManager manager, DataType dtype, long seed) {
        if (rank <= 0) throw new IllegalArgumentException("LoRA rank must be positive, got " + rank);
        this.rank = rank;
        this.scale = alpha / rank;
        this.a = new Param(prefix + "lora_A", new Shape(rank, in));
        this.b = new Param(prefix + "lora_B", new Shape(out, rank));
        manager.getEngine().setRandomSeed((int) seed);
        // Kaiming-uniform-like init for A, as common LoRA implementations do.
        float bound = (float) (1.0 / Math.sqrt(in));
        a.set(manager.randomUniform(-bound, bound, new Shape(rank, in), dtype));
        b.set(manager.zeros(new Shape(out, rank), dtype));
    }

    public int rank() {
        return rank;
    }

    public float scale() {
        return scale;
    }

    public Param a() {
        return a;
    }

    public Param b() {
        return b;
    }

    // x [..., in] -> [..., out]
    NDArray delta(NDArray x) {
        // fp32 adapters in an fp16 model: computed in the adapter's dtype, handed back in the input's
        DataType own = a.value().getDataType();
        NDArray in = x.getDataType() == own ? x : x.toType(own, false);
        NDArray h = ai.djl.nn.core.Linear.linear(in, a.value()).singletonOrThrow();
        NDArray d = Tensors.mul(ai.djl.nn.core.Linear.linear(h, b.value()).singletonOrThrow(), scale);
        return d.getDataType() == x.getDataType() ? d : d.toType(x.getDataType(), false);
    }

    /** The dense update {@code scale * B A} [out, in], for merging into the base weight at export. */
    public NDArray denseDelta() {
        return Tensors.mul(b.value().matMul(a.value()), scale);
    }
}
