package fastflux.pipeline.bench;

import fastflux.model.FlopCount;
import fastflux.model.FluxParams;
import fastflux.pipeline.clip.ClipTextConfig;
import fastflux.pipeline.t5.T5Config;
import fastflux.pipeline.vae.AutoEncoderParams;
import java.util.List;

/**
 * The analytic cost of one FLUX.1 generation, in one place: parameter counts, FLOPs (2 × multiply-accumulates of
 * every linear, convolution and attention matmul; elementwise work is not counted, as in {@link FlopCount}) and the
 * memory a stage needs (its weights plus its largest live activations).
 *
 * <p>The pipeline holds one stage's weights at a time ({@code FluxPipeline}), so a run's peak is its largest stage.
 *
 * @param flux the transformer
 * @param t5 the T5 encoder
 * @param clip the CLIP text tower
 * @param ae the autoencoder (both halves are stored; generation runs the decoder)
 */
public record PipelineAccounting(FluxParams flux, T5Config t5, ClipTextConfig clip, AutoEncoderParams ae) {

    /** FLUX.1-dev as released: 19 + 38 blocks, T5-XXL, CLIP-L, the 16-channel autoencoder. */
    public static PipelineAccounting fluxDev() {
        return new PipelineAccounting(FluxParams.named("flux-dev"), T5Config.T5_V1_1_XXL, ClipTextConfig.clipL(),
                AutoEncoderParams.FLUX);
    }

    /** FLUX.1-dev's widths with 2 double + 4 single blocks and 2 T5 layers: what {@code bench pipeline} runs. */
    public static PipelineAccounting realWidth() {
        T5Config xxl = T5Config.T5_V1_1_XXL;
        T5Config t5 = new T5Config(xxl.vocabSize(), xxl.dModel(), xxl.dKv(), xxl.dFf(), 2, xxl.numHeads(),
                xxl.relativeAttentionNumBuckets(), xxl.relativeAttentionMaxDistance(), xxl.layerNormEpsilon(),
                xxl.feedForwardProj());
        return new PipelineAccounting(FluxParams.named("flux-dev").withDepth(2, 4), t5, ClipTextConfig.clipL(),
                AutoEncoderParams.FLUX);
    }

    // ---------------------------------------------------------------- parameters

    public static long transformerParams(FluxParams p) {
        long h = p.hiddenSize(), m = p.mlpHidden(), hd = p.headDim();
        long top = lin(p.inChannels(), h) + lin(p.contextInDim(), h)
                + lin(256, h) + lin(h, h)                       // time_in
                + lin(p.vecInDim(), h) + lin(h, h)              // vector_in
                + (p.guidanceEmbed() ? lin(256, h) + lin(h, h) : 0)
                + lin(h, 2 * h) + lin(h, p.outChannels());      // final layer: adaLN, linear
        long stream = lin(h, 6 * h) + lin(h, 3 * h) + 2 * hd + lin(h, h) + lin(h, m) + lin(m, h);
        long single = lin(h, 3 * h) + lin(h, 3 * h + m) + 2 * hd + lin(h + m, h);
        return top + p.depth() * 2 * stream + p.depthSingleBlocks() * single;
    }

    public static long t5Params(T5Config c) {
        long d = c.dModel(), inner = c.innerDim(), ff = c.dFf();
        long layer = 4 * d * inner + 3 * d * ff + 2 * d; // q, k, v, o; wi_0, wi_1, wo; two RMS norms
        return c.vocabSize() * d + c.numLayers() * layer + (long) c.relativeAttentionNumBuckets() * c.numHeads() + d;
    }

    public static long clipParams(ClipTextConfig c) {
        long h = c.hiddenSize(), ff = c.intermediateSize();
        long layer = 4 * lin(h, h) + lin(h, ff) + lin(ff, h) + 4 * h;
        return (long) (c.vocabSize() + c.maxPositionEmbeddings()) * h + c.numHiddenLayers() * layer + 2 * h;
    }

    public static long autoEncoderParams(AutoEncoderParams p) {
        return encoderParams(p) + decoderParams(p);
    }

    static long encoderParams(AutoEncoderParams p) {
        int[] mult = p.chMult();
        long n = conv(p.inChannels(), p.ch(), 3), c = p.ch();
        for (int i = 0; i < mult.length; i++) {
            long out = (long) p.ch() * mult[i];
            for (int j = 0; j < p.numResBlocks(); j++) {
                n += resnet(c, out);
                c = out;
            }
            if (i < mult.length - 1) n += conv(c, c, 3);
        }
        return n + 2 * resnet(c, c) + attention(c) + 2 * c + conv(c, 2L * p.zChannels(), 3);
    }

    static long decoderParams(AutoEncoderParams p) {
        int[] mult = p.chMult();
        long c = (long) p.ch() * mult[mult.length - 1];
        long n = conv(p.zChannels(), c, 3) + 2 * resnet(c, c) + attention(c);
        for (int i = mult.length - 1; i >= 0; i--) {
            long out = (long) p.ch() * mult[i];
            for (int j = 0; j <= p.numResBlocks(); j++) {
                n += resnet(c, out);
                c = out;
            }
            if (i > 0) n += conv(c, c, 3);
        }
        return n + 2 * c + conv(c, p.outCh(), 3);
    }

    private static long lin(long in, long out) {
        return in * out + out;
    }

    private static long conv(long in, long out, int k) {
        return in * out * k * k + out;
    }

    private static long resnet(long in, long out) {
        return 2 * in + conv(in, out, 3) + 2 * out + conv(out, out, 3) + (in != out ? conv(in, out, 1) : 0);
    }

    private static long attention(long c) {
        return 2 * c + 4 * lin(c, c);
    }

    // ---------------------------------------------------------------- FLOPs

    /** One transformer forward over {@code imgTokens} + {@code txtTokens} tokens, batch 1. */
    public long transformerFlops(int imgTokens, int txtTokens) {
        return FlopCount.forward(flux, 1, imgTokens, txtTokens);
    }

    /** T5 over {@code length} tokens, batch 1: projections, both attention matmuls, the gated MLP. */
    public long t5Flops(int length) {
        long l = length, d = t5.dModel(), inner = t5.innerDim(), ff = t5.dFf();
        return 2 * t5.numLayers() * (l * 4 * d * inner + 2 * l * l * inner + l * 3 * d * ff);
    }

    /** CLIP over its 77 positions, batch 1. */
    public long clipFlops() {
        long l = clip.maxPositionEmbeddings(), h = clip.hiddenSize(), ff = clip.intermediateSize();
        return 2 * clip.numHiddenLayers() * (l * 4 * h * h + 2 * l * l * h + l * 2 * h * ff);
    }

    /** The decoder on an {@code h x w} latent: every convolution at its resolution, and the mid attention. */
    public long decodeFlops(int h, int w) {
        int[] mult = ae.chMult();
        long px = (long) h * w, c = (long) ae.ch() * mult[mult.length - 1];
        long macs = px * convMacs(ae.zChannels(), c, 3) + 2 * px * resnetMacs(c, c)
                + px * 4 * c * c + 2 * px * px * c;
        for (int i = mult.length - 1; i >= 0; i--) {
            long out = (long) ae.ch() * mult[i];
            for (int j = 0; j <= ae.numResBlocks(); j++) {
                macs += px * resnetMacs(c, out);
                c = out;
            }
            if (i > 0) {
                px *= 4;
                macs += px * convMacs(c, c, 3);
            }
        }
        return 2 * (macs + px * convMacs(c, ae.outCh(), 3));
    }

    private static long convMacs(long in, long out, int k) {
        return in * out * k * k;
    }

    private static long resnetMacs(long in, long out) {
        return convMacs(in, out, 3) + convMacs(out, out, 3) + (in != out ? in * out : 0);
    }

    // ---------------------------------------------------------------- memory

    /** One stage's need: parameters, their bytes in the run's dtype, and the largest activations live at once. */
    public record Stage(String name, long params, long weightBytes, long activationBytes) {
        public long bytes() {
            return weightBytes + activationBytes;
        }
    }

    /**
     * Each stage's memory for a {@code width x height} image and {@code t5Length} tokens with weights of
     * {@code bytesPerParam} (4 fp32, 2 fp16/bf16). Activations are counted in the same width; CLIP always runs in
     * fp32, and T5's {@code wo} projections stay fp32 (they overflow fp16), as the loaders do.
     */
    public List<Stage> stages(int width, int height, int t5Length, int bytesPerParam) {
        int f = ae.downsamplingFactor();
        long lh = height / f, lw = width / f;
        long img = (lh / 2) * (lw / 2), l = img + t5Length, b = bytesPerParam;
        long h = flux.hiddenSize(), m = flux.mlpHidden();

        long t5Wo = (long) t5.numLayers() * t5.dModel() * t5.dFf();
        long t5Weights = t5Params(t5) * b + (b < 4 ? t5Wo * (4 - b) : 0);
        long t5Len = t5Length;
        // Scores and their softmax over all heads; the gated MLP's two projections and their product.
        long t5Act = b * (2L * t5.numHeads() * t5Len * t5Len + 3 * t5Len * t5.dFf() + 4 * t5Len * t5.dModel());

        long clipLen = clip.maxPositionEmbeddings();
        long clipHeads = clip.hiddenSize() / clip.headDim();
        long clipAct = 4 * (2 * clipHeads * clipLen * clipLen
                + 2 * clipLen * clip.intermediateSize() + 4 * clipLen * clip.hiddenSize());

        // A single block's widest moment: linear1's output (qkv + MLP), scores and softmax, the MLP activation, the
        // concatenation fed to linear2, the residual; plus the text conditioning it reads every step.
        long fluxAct = b * (l * (3 * h + m) + 2L * flux.numHeads() * l * l + l * m + l * (h + m) + 2 * l * h)
                + 4L * t5Length * flux.contextInDim();

        // The decoder at full resolution (input, group norm, convolution output of the top level), or its mid
        // attention's scores and softmax at the latent's resolution, whichever is larger.
        long top = (long) ae.ch() * ae.chMult()[0] * width * height;
        long mid = lh * lw;
        long aeAct = b * Math.max(4 * top, 2 * mid * mid + 4 * mid * ae.ch() * ae.chMult()[ae.chMult().length - 1]);

        return List.of(
                new Stage("T5", t5Params(t5), t5Weights, t5Act),
                new Stage("CLIP", clipParams(clip), 4 * clipParams(clip), clipAct),
                new Stage("transformer", transformerParams(flux), b * transformerParams(flux), fluxAct),
                new Stage("autoencoder", autoEncoderParams(ae), b * autoEncoderParams(ae), aeAct));
    }

    /** The largest stage: what the pipeline's model memory peaks at. */
    public static Stage peak(List<Stage> stages) {
        Stage best = stages.get(0);
        for (Stage s : stages) if (s.bytes() > best.bytes()) best = s;
        return best;
    }
}
