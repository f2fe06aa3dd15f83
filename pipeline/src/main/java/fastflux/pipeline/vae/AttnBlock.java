package fastflux.pipeline.vae;

import static fastflux.pipeline.vae.VaeNn.replace;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Attention;
import fastflux.model.Module;
import fastflux.model.Nn;
import fastflux.model.Param;
import java.util.Map;

/**
 * The reference's mid-block {@code AttnBlock}: {@code x + proj_out(attention(norm(x)))}, single-head self-attention
 * over the H·W positions with 1x1 convolutions as q, k, v and the output projection.
 */
public final class AttnBlock extends Module {
    private final GroupNorm norm;
    private final Conv2d q;
    private final Conv2d k;
    private final Conv2d v;
    private final Conv2d projOut;

    public AttnBlock(String prefix, int channels) {
        super(prefix);
        norm = new GroupNorm(prefix + "norm.", channels);
        q = new Conv2d(prefix + "q.", channels, channels, 1, 1, 0);
        k = new Conv2d(prefix + "k.", channels, channels, 1, 1, 0);
        v = new Conv2d(prefix + "v.", channels, channels, 1, 1, 0);
        projOut = new Conv2d(prefix + "proj_out.", channels, channels, 1, 1, 0);
    }

    // x [B, C, H, W] -> [B, C, H, W]
    public NDArray forward(NDArray x) {
        NDArray h = residual(x);
        NDArray y = Nn.addResidual(x, h);
        h.close();
        return y;
    }

    /** The residual branch alone, {@code proj_out(attention(norm(x)))}. */
    // x [B, C, H, W] -> [B, C, H, W]
    public NDArray residual(NDArray x) {
        Shape s = x.getShape();
        long b = s.get(0), c = s.get(1), l = s.get(2) * s.get(3);
        NDArray h = norm.forward(x);
        // prepare for attention: b c h w -> b 1 (h w) c
        NDArray qs = q.forward(h).reshape(b, 1, c, l).transpose(0, 1, 3, 2);
        NDArray ks = k.forward(h).reshape(b, 1, c, l).transpose(0, 1, 3, 2);
        NDArray vs = v.forward(h).reshape(b, 1, c, l).transpose(0, 1, 3, 2);
        h.close();
        NDArray a = attend(qs, ks, vs); // [B, 1, L, C]
        qs.close();
        ks.close();
        vs.close();
        NDArray image = replace(a, a.transpose(0, 1, 3, 2).reshape(s));
        return replace(image, projOut.forward(image));
    }

    /**
     * Single-head attention tiled over query positions: each tile's scores and probabilities hold at most
     * {@link Attention#maxScoreElements} elements (64 Mi, 256 MB each in fp32) and are freed before the next tile.
     * FLUX's mid block runs at 1/8 of the image side, so a 1024x1024 image has L = 16384 positions: the whole score
     * matrix would be 1 GiB per image (2 GiB with the probabilities), a tile is 4096 query rows. Measured at that L on
     * the CPU: the attention's peak was 526 MB above its inputs tiled and 2070 MB whole, in the same time.
     */
    // q, k, v [B, 1, L, C] -> [B, 1, L, C]
    public static NDArray attend(NDArray q, NDArray k, NDArray v) {
        long b = q.getShape().get(0), lq = q.getShape().get(2), lk = k.getShape().get(2);
        long rows = Math.max(1, Math.min(lq, Attention.maxScoreElements / Math.max(1, b * lk)));
        if (rows >= lq) return Attention.scaledDotProduct(q, k, v);
        NDManager outer = q.getManager();
        NDList tiles = new NDList();
        try {
            for (long r0 = 0; r0 < lq; r0 += rows) {
                try (NDManager tile = outer.newSubManager()) {
                    NDArray qt = q.get(new NDIndex(":, :, {}:{}", r0, Math.min(lq, r0 + rows)));
                    qt.attach(tile); // the tile's ops land in its manager: their results are created beside q
                    NDArray o = Attention.scaledDotProduct(qt, k, v);
                    o.attach(outer);
                    tiles.add(o);
                }
            }
            return NDArrays.concat(tiles, 2);
        } finally {
            tiles.close();
        }
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(norm.params());
        out.putAll(q.params());
        out.putAll(k.params());
        out.putAll(v.params());
        out.putAll(projOut.params());
    }
}
