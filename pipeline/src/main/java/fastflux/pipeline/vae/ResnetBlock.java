package fastflux.pipeline.vae;

import static fastflux.pipeline.vae.VaeNn.replace;

import ai.djl.ndarray.NDArray;
import fastflux.model.Module;
import fastflux.model.Nn;
import fastflux.model.Param;
import java.util.Map;

/**
 * The reference's {@code ResnetBlock}: {@code x + conv2(swish(norm2(conv1(swish(norm1(x))))))}, the shortcut a 1x1
 * {@code nin_shortcut} convolution when the channel count changes.
 */
public final class ResnetBlock extends Module {
    private final GroupNorm norm1;
    private final Conv2d conv1;
    private final GroupNorm norm2;
    private final Conv2d conv2;
    private final Conv2d ninShortcut; // null when in == out

    public ResnetBlock(String prefix, int in, int out) {
        super(prefix);
        norm1 = new GroupNorm(prefix + "norm1.", in);
        conv1 = new Conv2d(prefix + "conv1.", in, out, 3, 1, 1);
        norm2 = new GroupNorm(prefix + "norm2.", out);
        conv2 = new Conv2d(prefix + "conv2.", out, out, 3, 1, 1);
        ninShortcut = in == out ? null : new Conv2d(prefix + "nin_shortcut.", in, out, 1, 1, 0);
    }

    // x [B, in, H, W] -> [B, out, H, W]
    public NDArray forward(NDArray x) {
        NDArray h = residual(x);
        NDArray shortcut = ninShortcut == null ? x : ninShortcut.forward(x);
        NDArray y = Nn.addResidual(shortcut, h);
        h.close();
        if (shortcut != x) shortcut.close();
        return y;
    }

    /** The residual branch alone. */
    // x [B, in, H, W] -> [B, out, H, W]
    public NDArray residual(NDArray x) {
        NDArray h = VaeNn.swishInPlace(norm1.forward(x));
        h = replace(h, conv1.forward(h));
        h = replace(h, VaeNn.swishInPlace(norm2.forward(h)));
        return replace(h, conv2.forward(h));
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(norm1.params());
        out.putAll(conv1.params());
        out.putAll(norm2.params());
        out.putAll(conv2.params());
        if (ninShortcut != null) out.putAll(ninShortcut.params());
    }
}
