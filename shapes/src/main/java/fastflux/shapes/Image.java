package fastflux.shapes;

import java.util.Arrays;

/**
 * A 32x32 RGB image, HWC layout, values in [0, 1]; black is the background.
 *
 * @param rgb {@code SIZE * SIZE * CHANNELS} floats, index {@code (y * SIZE + x) * CHANNELS + c}
 */
public record Image(float[] rgb) {
    public static final int SIZE = 32;
    public static final int CHANNELS = 3;
    public static final int LENGTH = SIZE * SIZE * CHANNELS;

    public Image {
        if (rgb == null || rgb.length != LENGTH) {
            throw new IllegalArgumentException(
                    "Image needs " + LENGTH + " floats (32x32x3 HWC), got " + (rgb == null ? "null" : rgb.length));
        }
    }

    /** An all-black image. */
    public static Image black() {
        return new Image(new float[LENGTH]);
    }

    /** From model output in [-1, 1] (HWC): maps to [0, 1] and clamps. */
    public static Image fromModelOutput(float[] hwc) {
        if (hwc == null || hwc.length != LENGTH) {
            throw new IllegalArgumentException(
                    "model output needs " + LENGTH + " floats (32x32x3 HWC), got " + (hwc == null ? "null" : hwc.length));
        }
        float[] out = new float[LENGTH];
        for (int i = 0; i < LENGTH; i++) {
            out[i] = Math.min(1f, Math.max(0f, (hwc[i] + 1f) * 0.5f));
        }
        return new Image(out);
    }

    /** To model input in [-1, 1] (HWC), a fresh copy. */
    public float[] toModelInput() {
        float[] out = new float[LENGTH];
        for (int i = 0; i < LENGTH; i++) {
            out[i] = rgb[i] * 2f - 1f;
        }
        return out;
    }

    public float get(int y, int x, int c) {
        return rgb[index(y, x, c)];
    }

    static int index(int y, int x, int c) {
        return (y * SIZE + x) * CHANNELS + c;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Image other && Arrays.equals(rgb, other.rgb);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(rgb);
    }

    @Override
    public String toString() {
        return "Image[32x32x3]";
    }
}
