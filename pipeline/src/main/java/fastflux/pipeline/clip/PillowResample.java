package fastflux.pipeline.clip;

import fastflux.pipeline.RgbImage;

/**
 * Pillow's {@code Image.resize} on an 8-bit RGB image with a convolution filter, ported from its
 * {@code libImaging/Resample.c} ({@code ImagingResample}, the 8-bit path) so that CLIP's preprocessing gives the
 * bytes Hugging Face's Pillow-based {@code CLIPImageProcessor} gives. Separable: a horizontal pass, then a
 * vertical one, each skipped when that side keeps its size. For output sample x of a pass, with s = in/out and
 * f = max(s, 1), the centre is c = (x + 0.5)·s, the taps are source samples {@code int(c - r·f + 0.5)} to
 * {@code int(c + r·f + 0.5) - 1} (clipped to the image; r the filter's support), weighted by
 * {@code filter((j - c + 0.5)·(1/f))} normalised to sum 1 and made integers {@code round(w·2^22)} (halves away
 * from zero). Each pass adds 2^21 to the integer weighted sum, shifts it right by 22 and clamps it to 0..255, so
 * the image between the passes is 8-bit too. Java's image scalers differ (up to 12 levels at sharp edges).
 */
public final class PillowResample {
    private PillowResample() {}

    /** Bits of the integer weights ({@code PRECISION_BITS} = 32 - 8 - 2). */
    private static final int PRECISION_BITS = 22;

    /** Pillow's convolution filters with their supports, under the numbers {@code Image.Resampling} gives them. */
    public enum Filter {
        /** {@code Image.BOX} (4): 1 on [-0.5, 0.5). */
        BOX(4, 0.5),
        /** {@code Image.BILINEAR} (2): the triangle. */
        BILINEAR(2, 1.0),
        /** {@code Image.HAMMING} (5): a Hamming-windowed sinc. */
        HAMMING(5, 1.0),
        /** {@code Image.BICUBIC} (3): Keys' cubic with a = -0.5, CLIP's resampling. */
        BICUBIC(3, 2.0),
        /** {@code Image.LANCZOS} (1): a 3-lobed Lanczos-windowed sinc. */
        LANCZOS(1, 3.0);

        private final int pillowCode;
        private final double support;

        Filter(int pillowCode, double support) {
            this.pillowCode = pillowCode;
            this.support = support;
        }

        /** The number Pillow and {@code preprocessor_config.json}'s {@code resample} use. */
        public int pillowCode() {
            return pillowCode;
        }

        public double support() {
            return support;
        }

        /** The filter for a {@code resample} number; nearest (0) is no convolution and is not ported. */
        public static Filter ofPillowCode(int code) {
            for (Filter f : values()) if (f.pillowCode == code) return f;
            throw new IllegalArgumentException("resample " + code + " is not a Pillow convolution filter (box 4, "
                    + "bilinear 2, hamming 5, bicubic 3, lanczos 1); nearest (0) is not supported");
        }

        double apply(double x) {
            switch (this) {
                case BOX:
                    return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
                case BILINEAR:
                    if (x < 0.0) x = -x;
                    return x < 1.0 ? 1.0 - x : 0.0;
                case HAMMING:
                    if (x < 0.0) x = -x;
                    if (x == 0.0) return 1.0;
                    if (x >= 1.0) return 0.0;
                    x = x * Math.PI;
                    return Math.sin(x) / x * (0.54 + 0.46 * Math.cos(x));
                case BICUBIC:
                    return bicubic(x);
                case LANCZOS:
                    if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
                    return 0.0;
                default:
                    throw new AssertionError(this);
            }
        }
    }

    /** Keys' cubic convolution kernel with a = -0.5, written as Pillow evaluates it. */
    static double bicubic(double x) {
        final double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    private static double sinc(double x) {
        if (x == 0.0) return 1.0;
        x = x * Math.PI;
        return Math.sin(x) / x;
    }

    /** {@code image} resized to {@code width} × {@code height}; the same image when the size already matches. */
    public static RgbImage resize(RgbImage image, int width, int height, Filter filter) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("cannot resize to " + width + "x" + height + ": both sides must be at least 1");
        }
        if (width == image.width() && height == image.height()) return image; // Pillow returns a copy
        byte[] rgb = image.rgb();
        int w = image.width(), h = image.height();
        if (width != w) {
            rgb = horizontal(rgb, w, h, width, filter);
            w = width;
        }
        if (height != h) {
            rgb = vertical(rgb, w, h, height, filter);
            h = height;
        }
        return new RgbImage(w, h, rgb);
    }

    /** Integer taps of one pass: for output sample x, {@code first[x]}, {@code count[x]} and the weights. */
    record Taps(int[] first, int[] count, int[][] weights) {}

    /** Pillow's {@code precompute_coeffs} followed by {@code normalize_coeffs_8bpc}, for a pass over the whole axis. */
    static Taps taps(int inSize, int outSize, Filter filter) {
        double scale = (double) inSize / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = filter.support() * filterScale;
        double ss = 1.0 / filterScale;
        int[] first = new int[outSize];
        int[] count = new int[outSize];
        int[][] weights = new int[outSize][];
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            // C's (int) truncates toward zero; a negative start is clipped to 0 either way.
            int xmin = (int) (center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int) (center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            double[] k = new double[Math.max(xmax, 0)];
            double ww = 0.0;
            for (int x = 0; x < xmax; x++) {
                double w = filter.apply((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            int[] ik = new int[k.length];
            for (int x = 0; x < k.length; x++) {
                double v = ww != 0.0 ? k[x] / ww : k[x];
                ik[x] = v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS)) : (int) (0.5 + v * (1 << PRECISION_BITS));
            }
            first[xx] = xmin;
            count[xx] = k.length;
            weights[xx] = ik;
        }
        return new Taps(first, count, weights);
    }

    private static byte[] horizontal(byte[] in, int w, int h, int outW, Filter filter) {
        Taps t = taps(w, outW, filter);
        byte[] out = new byte[outW * h * 3];
        for (int y = 0; y < h; y++) {
            int row = y * w * 3;
            for (int xx = 0; xx < outW; xx++) {
                int[] k = t.weights()[xx];
                int base = row + t.first()[xx] * 3;
                int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < k.length; x++) {
                    int o = base + x * 3;
                    s0 += (in[o] & 0xff) * k[x];
                    s1 += (in[o + 1] & 0xff) * k[x];
                    s2 += (in[o + 2] & 0xff) * k[x];
                }
                int o = (y * outW + xx) * 3;
                out[o] = clip8(s0);
                out[o + 1] = clip8(s1);
                out[o + 2] = clip8(s2);
            }
        }
        return out;
    }

    private static byte[] vertical(byte[] in, int w, int h, int outH, Filter filter) {
        Taps t = taps(h, outH, filter);
        byte[] out = new byte[w * outH * 3];
        for (int yy = 0; yy < outH; yy++) {
            int[] k = t.weights()[yy];
            int first = t.first()[yy];
            for (int x = 0; x < w; x++) {
                int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int y = 0; y < k.length; y++) {
                    int o = ((first + y) * w + x) * 3;
                    s0 += (in[o] & 0xff) * k[y];
                    s1 += (in[o + 1] & 0xff) * k[y];
                    s2 += (in[o + 2] & 0xff) * k[y];
                }
                int o = (yy * w + x) * 3;
                out[o] = clip8(s0);
                out[o + 1] = clip8(s1);
                out[o + 2] = clip8(s2);
            }
        }
        return out;
    }

    /** The sum shifted back to 8 bits and clamped, as Pillow's {@code clip8} (an arithmetic shift). */
    private static byte clip8(int sum) {
        int v = sum >> PRECISION_BITS;
        return (byte) (v < 0 ? 0 : Math.min(v, 255));
    }
}
