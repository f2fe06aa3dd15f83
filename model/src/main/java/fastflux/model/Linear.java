package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import java.util.Map;

/**
 * {@code y = x Wᵀ + b} in torch's layout (weight [out, in]). An optional {@link LoRA} adapter wraps it
 * without editing it: {@code base(x) + scale * B(A(x))}.
 */
public final class Linear extends Module {
    private final int in;
    private final int out;
    private final Param weight;
    private final Param bias;
    private LoRA lora;

    public Linear(String prefix, int in, int out, boolean bias) {
        super(prefix);
        this.in = in;
        this.out = out;
        this.weight = new Param(prefix + "weight", new Shape(out, in));
        this.bias = bias ? new Param(prefix + "bias", new Shape(out)) : null;
    }

    public int in() {
        return in;
    }

    public int out() {
        return out;
    }

    public Param weight() {
        return weight;
    }

    public Param bias() {
        return bias;
    }

    public LoRA lora() {
        return lora;
    }

    /** Attaches an adapter (one per layer: an existing adapter is kept and trained further, never stacked). */
    public void setLora(LoRA adapter) {
        this.lora = adapter;
    }

    // x [..., in] -> [..., out]
    public NDArray forward(NDArray x) {
        NDArray w = weight.value();
        NDArray y = ai.djl.nn.core.Linear.linear(x, w, bias == null ? null : bias.value()).singletonOrThrow();
        if (lora != null) {
            y = y.add(lora.delta(x));
        }
        return y;
    }

    @Override
    protected void collect(Map<String, Param> out) {
        put(out, weight);
        put(out, bias);
    }
}
