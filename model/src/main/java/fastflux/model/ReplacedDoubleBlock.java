package fastflux.model;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/**
 * BRLL for a double-stream block: each stream keeps its shortcut and its residual branch becomes one
 * per-token linear layer, {@code img + img_linear(img)}, {@code txt + txt_linear(txt)}.
 */
public final class ReplacedDoubleBlock extends DoubleStreamLayer {
    final Linear imgLinear;
    final Linear txtLinear;

    public ReplacedDoubleBlock(String prefix, int hidden) {
        super(prefix);
        imgLinear = new Linear(prefix + "img_linear.", hidden, hidden, true);
        txtLinear = new Linear(prefix + "txt_linear.", hidden, hidden, true);
    }

    public Linear imgLinear() {
        return imgLinear;
    }

    public Linear txtLinear() {
        return txtLinear;
    }

    @Override
    public Streams forward(NDArray img, NDArray txt, NDArray vec, Rope pe) {
        return new Streams(Nn.addResidual(img, imgLinear.forward(img)), Nn.addResidual(txt, txtLinear.forward(txt)));
    }

    @Override
    public Streams residual(NDArray img, NDArray txt, NDArray vec, Rope pe) {
        return new Streams(imgLinear.forward(img), txtLinear.forward(txt));
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(imgLinear.params());
        out.putAll(txtLinear.params());
    }
}
