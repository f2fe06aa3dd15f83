package fastflux.pipeline;

import ai.djl.ndarray.NDArray;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/** An 8-bit RGB image, row-major, 3 bytes a pixel. */
public record RgbImage(int width, int height, byte[] rgb) {
    public RgbImage {
        if (rgb.length != width * height * 3) {
            throw new IllegalArgumentException(width + "x" + height + " RGB takes " + width * height * 3 + " bytes, got " + rgb.length);
        }
    }

    /**
     * The decoder's output as the BFL CLI saves it: clamp to [-1, 1], {@code 127.5 (x + 1)} in float32, truncated
     * (diffusers rounds instead; truncating keeps the reference's bytes).
     */
    // images [B, 3, H, W] fp32
    public static List<RgbImage> fromDecoded(NDArray images) {
        long[] s = images.getShape().getShape();
        if (s.length != 4 || s[1] != 3) throw new IllegalArgumentException("expected decoded images [B, 3, H, W], got " + images.getShape());
        int b = (int) s[0], h = (int) s[2], w = (int) s[3], plane = h * w;
        float[] x = images.toFloatArray();
        List<RgbImage> out = new ArrayList<>(b);
        for (int i = 0; i < b; i++) {
            byte[] rgb = new byte[plane * 3];
            for (int p = 0; p < plane; p++) {
                for (int c = 0; c < 3; c++) rgb[p * 3 + c] = (byte) toByte(x[(i * 3 + c) * plane + p]);
            }
            out.add(new RgbImage(w, h, rgb));
        }
        return out;
    }

    static int toByte(float v) {
        float clamped = Math.max(-1f, Math.min(1f, v));
        return (int) (127.5f * (clamped + 1f));
    }

    /** The pixel at (x, y) as 0xRRGGBB. */
    public int pixel(int x, int y) {
        int o = (y * width + x) * 3;
        return (rgb[o] & 0xff) << 16 | (rgb[o + 1] & 0xff) << 8 | (rgb[o + 2] & 0xff);
    }

    /** The image as PNG bytes (8-bit RGB, no metadata). */
    public byte[] png() {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) for (int x = 0; x < width; x++) img.setRGB(x, y, pixel(x, y));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(img, "png", out)) throw new IllegalStateException("no PNG writer in this Java runtime");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    public void writePng(Path file) throws IOException {
        Files.write(file, png());
    }
}
