package fastflux.pipeline.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import fastflux.pipeline.RgbImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link PillowResample} against Pillow's own output on random images (fixtures/pillow-resample). */
class PillowResampleTest {
    static final Path DIR = Path.of("src/test/resources/fixtures/pillow-resample");

    @Test
    void everyFilterGivesPillowsBytes() throws Exception {
        JsonObject root = ClipJson.readObject(DIR.resolve("cases.json"));
        List<String> wrong = new ArrayList<>();
        int cases = 0;
        for (JsonElement e : root.getAsJsonArray("cases")) {
            JsonObject c = e.getAsJsonObject();
            RgbImage in = ClipImageProcessor.readImage(DIR.resolve(c.get("input").getAsString()));
            RgbImage expected = ClipImageProcessor.readImage(DIR.resolve(c.get("output").getAsString()));
            PillowResample.Filter filter = PillowResample.Filter.ofPillowCode(c.get("resample").getAsInt());
            RgbImage out = PillowResample.resize(in, c.get("width").getAsInt(), c.get("height").getAsInt(), filter);
            assertEquals(expected.width(), out.width());
            assertEquals(expected.height(), out.height());
            int differing = 0, worst = 0;
            for (int i = 0; i < out.rgb().length; i++) {
                int d = Math.abs((out.rgb()[i] & 0xff) - (expected.rgb()[i] & 0xff));
                if (d != 0) differing++;
                worst = Math.max(worst, d);
            }
            if (differing > 0) wrong.add(c.get("output").getAsString() + ": " + differing + " bytes differ, by up to " + worst);
            cases++;
        }
        assertEquals(40, cases);
        assertTrue(wrong.isEmpty(), String.join("\n", wrong));
    }

    @Test
    void bicubicTapsFollowPillow() {
        // 64 -> 21: s = 64/21, f = s, support 2f; taps of output 0 start at 0 and their integer weights sum to 2^22
        // up to rounding.
        PillowResample.Taps t = PillowResample.taps(64, 21, PillowResample.Filter.BICUBIC);
        assertEquals(0, t.first()[0]);
        double s = 64.0 / 21;
        assertEquals((int) (s / 2 + 2 * s + 0.5), t.count()[0]);
        for (int x = 0; x < 21; x++) {
            int sum = 0;
            for (int w : t.weights()[x]) sum += w;
            assertTrue(Math.abs(sum - (1 << 22)) <= t.count()[x], "output " + x + " weights sum to " + sum);
            assertTrue(t.first()[x] + t.count()[x] <= 64);
        }
        assertEquals(1.0, PillowResample.bicubic(0), 0);
        assertEquals(0.0, PillowResample.bicubic(2), 0);
        assertEquals(-0.0625, PillowResample.bicubic(1.5), 1e-15);
    }

    @Test
    void sameSizeIsTheImageAndBadSizesAreRefused() {
        RgbImage img = new RgbImage(2, 1, new byte[] {1, 2, 3, 4, 5, 6});
        assertSame(img, PillowResample.resize(img, 2, 1, PillowResample.Filter.BICUBIC));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PillowResample.resize(img, 0, 3, PillowResample.Filter.BICUBIC));
        assertTrue(e.getMessage().contains("0x3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PillowResample.Filter.ofPillowCode(0));
        assertTrue(e.getMessage().contains("nearest"), e.getMessage());
    }

    @Test
    void aConstantImageStaysConstant() {
        byte[] rgb = new byte[13 * 7 * 3];
        for (int i = 0; i < rgb.length; i += 3) {
            rgb[i] = (byte) 200;
            rgb[i + 1] = 17;
            rgb[i + 2] = (byte) 255;
        }
        for (PillowResample.Filter f : PillowResample.Filter.values()) {
            RgbImage out = PillowResample.resize(new RgbImage(13, 7, rgb), 5, 11, f);
            for (int i = 0; i < out.rgb().length; i += 3) {
                assertArrayEquals(new byte[] {(byte) 200, 17, (byte) 255},
                        new byte[] {out.rgb()[i], out.rgb()[i + 1], out.rgb()[i + 2]}, f + " pixel " + i / 3);
            }
        }
    }
}
