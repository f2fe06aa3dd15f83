package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import java.util.Map;

/**
 * FLUX.1's double-stream block: image and text tokens keep separate weights (modulation, attention
 * projections, MLP) and meet in one joint attention over {@code cat(txt, img)}.
 */
public final class DoubleStreamBlock extends DoubleStreamLayer {
    final Modulation imgMod;
    final SelfAttention imgAttn;
    final Linear imgMlp0;
    final Linear imgMlp2;
    final Modulation txtMod;
    final SelfAttention txtAttn;
    final Linear txtMlp0;
    final Linear txtMlp2;

    public DoubleStreamBlock(String prefix, FluxParams p) {
        super(prefix);
        int h = p.hiddenSize(), mlp = p.mlpHidden();
        imgMod = new Modulation(prefix + "img_mod.", h, true);
        imgAttn = new SelfAttention(prefix + "img_attn.", h, p.numHeads(), p.qkvBias());
        imgMlp0 = new Linear(prefix + "img_mlp.0.", h, mlp, true);
        imgMlp2 = new Linear(prefix + "img_mlp.2.", mlp, h, true);
        txtMod = new Modulation(prefix + "txt_mod.", h, true);
        txtAttn = new SelfAttention(prefix + "txt_attn.", h, p.numHeads(), p.qkvBias());
        txtMlp0 = new Linear(prefix + "txt_mlp.0.", h, mlp, true);
        txtMlp2 = new Linear(prefix + "txt_mlp.2.", mlp, h, true);
    }

    // img [B, Li, H], txt [B, Lt, H], vec [B, H]
    @Override
    public Streams forward(NDArray img, NDArray txt, NDArray vec, Rope pe) {
        Modulation.Out[] im = imgMod.forward(vec);
        Modulation.Out[] tm = txtMod.forward(vec);

        NDArray[] iq = imgAttn.qkv(Nn.modulate(Nn.layerNorm(img), im[0].shift(), im[0].scale()));
        NDArray[] tq = txtAttn.qkv(Nn.modulate(Nn.layerNorm(txt), tm[0].shift(), tm[0].scale()));
        // Joint attention over cat(txt, img) along the sequence axis.
        NDArray attn = Attention.attention(tq[0].concat(iq[0], 2), tq[1].concat(iq[1], 2), tq[2].concat(iq[2], 2), pe);
        long lt = txt.getShape().get(1);
        Shape s = attn.getShape();
        NDArray txtAttnOut = attn.get(":, :{}", lt);
        NDArray imgAttnOut = attn.get(":, {}:", lt);

        img = Nn.addResidual(img, Nn.scaled(imgAttn.proj.forward(imgAttnOut), im[0].gate()));
        img = Nn.addResidual(img, Nn.scaled(mlp(imgMlp0, imgMlp2, Nn.modulate(Nn.layerNorm(img), im[1].shift(), im[1].scale())), im[1].gate()));
        txt = Nn.addResidual(txt, Nn.scaled(txtAttn.proj.forward(txtAttnOut), tm[0].gate()));
        txt = Nn.addResidual(txt, Nn.scaled(mlp(txtMlp0, txtMlp2, Nn.modulate(Nn.layerNorm(txt), tm[1].shift(), tm[1].scale())), tm[1].gate()));
        return new Streams(img, txt);
    }

    private static NDArray mlp(Linear l0, Linear l2, NDArray x) {
        return l2.forward(Nn.geluTanh(l0.forward(x)));
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(imgMod.params());
        out.putAll(imgAttn.params());
        out.putAll(imgMlp0.params());
        out.putAll(imgMlp2.params());
        out.putAll(txtMod.params());
        out.putAll(txtAttn.params());
        out.putAll(txtMlp0.params());
        out.putAll(txtMlp2.params());
    }

    /** Every linear layer of the block, by parameter prefix (LoRA targets). */
    public Map<String, Linear> linears() {
        Map<String, Linear> m = new java.util.LinkedHashMap<>();
        for (Linear l : new Linear[] {imgMod.lin, imgAttn.qkv, imgAttn.proj, imgMlp0, imgMlp2,
                txtMod.lin, txtAttn.qkv, txtAttn.proj, txtMlp0, txtMlp2}) {
            m.put(l.prefix(), l);
        }
        return m;
    }
}
