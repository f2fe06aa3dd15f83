package fastflux.pipeline.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Nn;
import java.util.function.UnaryOperator;

/**
 * Stateless tensor functions of the autoencoder, with shapes in the comments. The autoencoder runs at inference
 * only, so these close what they no longer need as soon as they can: at 1024x1024 one activation of the
 * decoder's last level is 512 MB in fp32.
 */
public final class VaeNn {
    private VaeNn() {}

    /** Group norm: per sample, the channels split into {@code groups} groups, each normalised (eps 1e-6, fp32). */
    // x [B, C, H, W], weight, bias [C] -> [B, C, H, W]
    public static NDArray groupNorm(NDArray x, int groups, NDArray weight, NDArray bias) {
        Shape s = x.getShape();
        long c = s.get(1);
        if (c % groups != 0) throw new IllegalArgumentException("group norm: " + c + " channels in " + groups + " groups");
        NDArray normed;
        // LayerNorm over each group's C/G·H·W values is exactly the group's normalisation.
        try (NDArray grouped = x.reshape(s.get(0), groups, -1); NDArray y = Nn.layerNorm(grouped)) {
            normed = y.reshape(s);
        }
        try (NDArray w = weight.reshape(1, c, 1, 1); NDArray b = bias.reshape(1, c, 1, 1)) {
            return normed.muli(w).addi(b);
        }
    }

    /** Swish (SiLU), x·σ(x), in place on {@code fresh}, which the caller must not hold elsewhere. */
    public static NDArray swishInPlace(NDArray fresh) {
        try (NDArray sig = fresh.getNDArrayInternal().sigmoid()) {
            return fresh.muli(sig);
        }
    }

    /** Nearest-neighbour upsampling by 2, {@code F.interpolate(x, scale_factor=2.0, mode="nearest")}. */
    // x [B, C, H, W] -> [B, C, 2H, 2W]
    public static NDArray upsampleNearest2x(NDArray x) {
        Shape s = x.getShape();
        long b = s.get(0), c = s.get(1), h = s.get(2), w = s.get(3);
        try (NDArray cells = x.reshape(b, c, h, 1, w, 1); NDArray wide = cells.broadcast(b, c, h, 2, w, 2)) {
            return wide.reshape(b, c, 2 * h, 2 * w);
        }
    }

    /** Zero padding of one row at the bottom and one column at the right, {@code F.pad(x, (0, 1, 0, 1))}. */
    // x [B, C, H, W] -> [B, C, H + 1, W + 1]
    public static NDArray padRightBottom(NDArray x) {
        return x.pad(new Shape(0, 1, 0, 1), 0);
    }

    /**
     * {@code f(x)} with f's intermediates freed when it returns rather than when the caller's manager closes, so a
     * forward holds one block's intermediates at a time. {@code x} stays open and in its manager.
     */
    public static NDArray scoped(NDArray x, UnaryOperator<NDArray> f) {
        NDManager outer = x.getManager();
        try (NDManager scope = outer.newSubManager()) {
            x.tempAttach(scope);
            NDArray y = f.apply(x);
            if (y != x) y.attach(outer);
            return y;
        }
    }

    /** Closes {@code old} and returns {@code fresh}: one step of a chain whose intermediates are not kept. */
    static NDArray replace(NDArray old, NDArray fresh) {
        if (old != fresh) old.close();
        return fresh;
    }
}
