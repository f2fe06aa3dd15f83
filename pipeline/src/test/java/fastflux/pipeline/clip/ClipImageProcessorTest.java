package fastflux.pipeline.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.pipeline.RgbImage;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link ClipImageProcessor}: config forms, geometry, crop padding, arithmetic and errors. */
class ClipImageProcessorTest {

    private static JsonObject json(String s) {
        return JsonParser.parseString(s).getAsJsonObject();
    }

    @Test
    void readsTheFixturesConfig() {
        ClipImageProcessor p = ClipImageProcessor.read(ClipTinyA.DIR.resolve("preprocessor_config.json"));
        assertEquals(32, p.shortestEdge());
        assertEquals(32, p.cropHeight());
        assertEquals(32, p.cropWidth());
        assertEquals(PillowResample.Filter.BICUBIC, p.resample());
        assertEquals(1 / 255.0, p.rescaleFactor(), 0);
        assertArrayEquals(new float[] {0.48145466f, 0.4578275f, 0.40821073f}, p.mean());
    }

    @Test
    void olderConfigsWithBareIntegersAreCliPLsForm() {
        // openai/clip-vit-large-patch14's preprocessor_config.json (a CLIPFeatureExtractor config).
        ClipImageProcessor p = ClipImageProcessor.fromJson(json("{\"crop_size\": 224, \"do_center_crop\": true, "
                + "\"do_normalize\": true, \"do_resize\": true, \"feature_extractor_type\": \"CLIPFeatureExtractor\", "
                + "\"image_mean\": [0.48145466, 0.4578275, 0.40821073], "
                + "\"image_std\": [0.26862954, 0.26130258, 0.27577711], \"resample\": 3, \"size\": 224}"));
        ClipImageProcessor l = ClipImageProcessor.clipL();
        assertEquals(l.shortestEdge(), p.shortestEdge());
        assertEquals(l.cropHeight(), p.cropHeight());
        assertEquals(l.cropWidth(), p.cropWidth());
        assertEquals(l.rescaleFactor(), p.rescaleFactor(), 0);
        assertArrayEquals(l.std(), p.std());
        RgbImage wide = new RgbImage(640, 480, new byte[640 * 480 * 3]);
        assertArrayEquals(new int[] {298, 224}, p.resizedSize(wide), "int(224 * 640 / 480) = 298");
        assertEquals(3 * 224 * 224, p.pixelValues(wide).length);
        ClipImageProcessor fixed = ClipImageProcessor.fromJson(json("{\"size\": {\"height\": 20, \"width\": 30}, "
                + "\"do_center_crop\": false}"));
        assertArrayEquals(new int[] {30, 20}, fixed.resizedSize(wide));
        assertEquals(3 * 20 * 30, fixed.pixelValues(wide).length);
    }

    @Test
    void centerCropFloorsAndPadsAsTransformers() {
        byte[] rgb = new byte[5 * 4 * 3];
        for (int i = 0; i < 20; i++) rgb[i * 3] = (byte) (i + 1); // red = 1 + index, row-major
        RgbImage img = new RgbImage(5, 4, rgb);
        // 5x4 -> 2x3: top (4 - 3) // 2 = 0, left (5 - 2) // 2 = 1: the extra row stays at the bottom.
        RgbImage c = ClipImageProcessor.centerCrop(img, 3, 2);
        assertEquals(2, c.width());
        assertEquals(3, c.height());
        assertEquals(2, c.rgb()[0]);
        assertEquals(3, c.rgb()[3]);
        assertEquals(7, c.rgb()[6]);
        // 5x4 -> 8x7: padded on zeros with ceil(3/2) = 2 columns left, ceil(3/2) = 2 rows above.
        RgbImage p = ClipImageProcessor.centerCrop(img, 7, 8);
        assertEquals(8, p.width());
        assertEquals(7, p.height());
        assertEquals(0, p.rgb()[(1 * 8 + 2) * 3]);
        assertEquals(1, p.rgb()[(2 * 8 + 2) * 3]);
        assertEquals(5, p.rgb()[(2 * 8 + 6) * 3]);
        assertEquals(0, p.rgb()[(2 * 8 + 7) * 3]);
        assertEquals(20, p.rgb()[(5 * 8 + 6) * 3]);
        assertEquals(0, p.rgb()[(6 * 8 + 6) * 3]);
    }

    @Test
    void rescaleAndNormaliseAreFloat32AsNumpy() {
        ClipImageProcessor p = ClipImageProcessor.fromJson(json("{\"size\": 1, \"crop_size\": 1}"));
        float[] v = p.pixelValues(new RgbImage(1, 1, new byte[] {(byte) 255, 0, (byte) 128}));
        float x = (float) (128 * (1 / 255.0));
        assertEquals((x - 0.40821073f) / 0.27577711f, v[2], 0);
        assertEquals((1f - 0.48145466f) / 0.26862954f, v[0], 0);
        assertEquals((0f - 0.4578275f) / 0.26130258f, v[1], 0);
    }

    @Test
    void readImageDropsAlphaAndExpandsGrey(@TempDir Path tmp) throws Exception {
        BufferedImage argb = new BufferedImage(2, 1, BufferedImage.TYPE_INT_ARGB);
        argb.setRGB(0, 0, 0x10203040);
        argb.setRGB(1, 0, 0xff0a0b0c);
        javax.imageio.ImageIO.write(argb, "png", tmp.resolve("a.png").toFile());
        RgbImage a = ClipImageProcessor.readImage(tmp.resolve("a.png"));
        assertArrayEquals(new byte[] {0x20, 0x30, 0x40, 0x0a, 0x0b, 0x0c}, a.rgb());
        BufferedImage grey = new BufferedImage(1, 1, BufferedImage.TYPE_BYTE_GRAY);
        grey.getRaster().setSample(0, 0, 0, 77);
        javax.imageio.ImageIO.write(grey, "png", tmp.resolve("g.png").toFile());
        assertArrayEquals(new byte[] {77, 77, 77}, ClipImageProcessor.readImage(tmp.resolve("g.png")).rgb());
        Files.writeString(tmp.resolve("x.png"), "not a png");
        Exception e = assertThrows(java.io.IOException.class, () -> ClipImageProcessor.readImage(tmp.resolve("x.png")));
        assertTrue(e.getMessage().contains("x.png"), e.getMessage());
    }

    @Test
    void badConfigsNameTheFileAndTheFields(@TempDir Path tmp) throws Exception {
        Path f = tmp.resolve("preprocessor_config.json");
        Files.writeString(f, "{\"size\": {\"longest_edge\": 5}, \"resample\": 0, \"image_std\": [1, 0, 1], "
                + "\"crop_size\": \"big\"}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipImageProcessor.read(f));
        String m = e.getMessage();
        assertTrue(m.startsWith(f.toString()), m);
        assertTrue(m.contains("\"size\""), m);
        assertTrue(m.contains("\"resample\""), m);
        assertTrue(m.contains("\"crop_size\""), m);
        assertTrue(m.contains("\"image_std\""), m);
        Files.writeString(f, "[1, 2]");
        e = assertThrows(IllegalArgumentException.class, () -> ClipImageProcessor.read(f));
        assertTrue(e.getMessage().contains("not a JSON object"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ClipImageProcessor.read(tmp.resolve("none.json")));
        assertTrue(e.getMessage().contains("none.json"), e.getMessage());
    }
}
