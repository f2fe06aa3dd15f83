package fastflux.shapes;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;

/** PNG output of Shapes images. */
public final class Png {
    /** Separator between grid tiles: mid grey, so black backgrounds stay apart. */
    static final int SEPARATOR_RGB = 0x808080;

    private Png() {}

    /** One 32x32 image. */
    public static void write(Image image, Path file) throws IOException {
        writeGrid(List.of(image), 1, 1, file);
    }

    /**
     * Images in a grid of {@code cols} columns, each upscaled by {@code scale} (nearest neighbour), tiles
     * separated by 1-pixel grey lines; empty trailing tiles stay black.
     */
    public static void writeGrid(List<Image> images, int cols, int scale, Path file) throws IOException {
        if (images.isEmpty() || cols < 1 || scale < 1) {
            throw new IllegalArgumentException("writeGrid needs images, cols >= 1 and scale >= 1; got "
                    + images.size() + " images, cols " + cols + ", scale " + scale);
        }
        int c = Math.min(cols, images.size());
        int rows = (images.size() + c - 1) / c;
        int tile = Image.SIZE * scale;
        int width = c * tile + (c - 1);
        int height = rows * tile + (rows - 1);
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                if (x % (tile + 1) == tile || y % (tile + 1) == tile) {
                    out.setRGB(x, y, SEPARATOR_RGB);
                }
            }
        }
        for (int i = 0; i < images.size(); i++) {
            Image img = images.get(i);
            int ox = (i % c) * (tile + 1);
            int oy = (i / c) * (tile + 1);
            for (int y = 0; y < tile; y++) {
                for (int x = 0; x < tile; x++) {
                    int py = y / scale;
                    int px = x / scale;
                    int rgb = (byteOf(img.get(py, px, 0)) << 16) | (byteOf(img.get(py, px, 1)) << 8)
                            | byteOf(img.get(py, px, 2));
                    out.setRGB(ox + x, oy + y, rgb);
                }
            }
        }
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        if (!ImageIO.write(out, "png", file.toFile())) {
            throw new IOException("no PNG writer available for " + file);
        }
    }

    private static int byteOf(float v) {
        return Math.round(Math.min(1f, Math.max(0f, v)) * 255f);
    }
}
