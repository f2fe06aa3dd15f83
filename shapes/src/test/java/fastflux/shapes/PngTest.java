package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PngTest {
    @TempDir
    Path dir;

    @Test
    void writesOneImageExactly() throws IOException {
        Image img = ShapesWorld.sampleExample(4).image();
        Path f = dir.resolve("one.png");
        Png.write(img, f);
        BufferedImage back = ImageIO.read(f.toFile());
        assertEquals(32, back.getWidth());
        assertEquals(32, back.getHeight());
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                int rgb = back.getRGB(x, y) & 0xFFFFFF;
                assertEquals(Math.round(img.get(y, x, 0) * 255), rgb >> 16);
                assertEquals(Math.round(img.get(y, x, 2) * 255), rgb & 0xFF);
            }
        }
    }

    @Test
    void writesAScaledGridWithSeparators() throws IOException {
        Image a = ShapesWorld.render(Scene.of(new SceneObject(ShapeKind.SQUARE, Colour.RED, 0, 0, 0, 0)));
        Image b = Image.black();
        Path f = dir.resolve("sub/grid.png");
        Png.writeGrid(List.of(a, b, a), 2, 3, f);
        BufferedImage back = ImageIO.read(f.toFile());
        assertEquals(2 * 96 + 1, back.getWidth());
        assertEquals(2 * 96 + 1, back.getHeight());
        assertEquals(0xFF0000, back.getRGB(17, 17) & 0xFFFFFF, "pixel (5,5) of a, scaled by 3");
        assertEquals(0x000000, back.getRGB(18, 18) & 0xFFFFFF, "pixel (6,6) of a is black");
        assertEquals(Png.SEPARATOR_RGB, back.getRGB(96, 10) & 0xFFFFFF);
        assertEquals(Png.SEPARATOR_RGB, back.getRGB(10, 96) & 0xFFFFFF);
        assertEquals(0xFF0000, back.getRGB(0, 97) & 0xFFFFFF, "third image starts the second row");
        assertEquals(0x000000, back.getRGB(150, 150) & 0xFFFFFF, "empty tile stays black");
    }
}
