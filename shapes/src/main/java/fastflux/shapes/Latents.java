package fastflux.shapes;

/**
 * Pixels as FLUX latents: a 32×32×3 image in [-1, 1] is packed into 4×4 patches the way FLUX packs its
 * latents ({@code "c (h ph) (w pw) -> (h w) (c ph pw)"}), giving 64 tokens of 48 channels, with img_ids
 * {@code [0, row, col]} as the reference builds them.
 */
public final class Latents {
    private Latents() {}

    public static final int PATCH = 4;
    public static final int GRID = Image.SIZE / PATCH; // 8
    public static final int TOKENS = GRID * GRID; // 64
    public static final int CHANNELS = Image.CHANNELS * PATCH * PATCH; // 48

    /** HWC image [32, 32, 3] -> tokens [64, 48], channel order (c, ph, pw). */
    public static float[] pack(float[] hwc) {
        float[] out = new float[TOKENS * CHANNELS];
        for (int i = 0; i < out.length; i++) out[i] = hwc[PIXEL[i]];
        return out;
    }

    private static final int[] PIXEL = pixelOfTokenValue();

    /** For each position of the token layout [64, 48], the index of its value in the HWC image. */
    private static int[] pixelOfTokenValue() {
        int[] index = new int[TOKENS * CHANNELS];
        for (int h = 0; h < GRID; h++)
            for (int w = 0; w < GRID; w++)
                for (int c = 0; c < Image.CHANNELS; c++)
                    for (int ph = 0; ph < PATCH; ph++)
                        for (int pw = 0; pw < PATCH; pw++) {
                            int y = h * PATCH + ph, x = w * PATCH + pw;
                            index[(h * GRID + w) * CHANNELS + (c * PATCH + ph) * PATCH + pw] = (y * Image.SIZE + x) * Image.CHANNELS + c;
                        }
        return index;
    }

    /** Tokens [64, 48] -> HWC image [32, 32, 3]; the inverse of {@link #pack}. */
    public static float[] unpack(float[] tokens) {
        if (tokens.length != TOKENS * CHANNELS) {
            throw new IllegalArgumentException("expected " + TOKENS + "x" + CHANNELS + " latent values, got " + tokens.length);
        }
        float[] out = new float[Image.LENGTH];
        for (int i = 0; i < tokens.length; i++) out[PIXEL[i]] = tokens[i];
        return out;
    }

    /** img_ids [64, 3]: {@code [0, row, col]} per token. */
    public static float[] imgIds() {
        float[] ids = new float[TOKENS * 3];
        for (int h = 0; h < GRID; h++)
            for (int w = 0; w < GRID; w++) {
                ids[(h * GRID + w) * 3 + 1] = h;
                ids[(h * GRID + w) * 3 + 2] = w;
            }
        return ids;
    }
}
