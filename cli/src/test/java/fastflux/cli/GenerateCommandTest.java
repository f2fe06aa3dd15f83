package fastflux.cli;

import static org.junit.jupiter.api.Assertions.*;

import fastflux.cli.MainTest.Outcome;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code fastflux generate} on the flux-pipeline-a fixture (diffusers folder, and BFL files with the diffusers
 * folder's text encoders) against the reference CLI's PNGs, and on the embedded Shapes model.
 */
class GenerateCommandTest {
    static final Path FIXTURE = Path.of("../pipeline/src/test/resources/fixtures/flux-pipeline-a");
    static final Path DIFFUSERS = FIXTURE.resolve("diffusers");
    static final Path BFL = FIXTURE.resolve("bfl");

    static String[] fixtureRun(Path prompts, Path out, String... model) {
        String[] common = {"generate", "--prompts", prompts.toString(), "--noise", FIXTURE.resolve("inputs.safetensors").toString(),
                "--steps", "4", "--guidance", "3.5", "--max-sequence-length", "32", "--out", out.toString()};
        String[] argv = java.util.Arrays.copyOf(common, common.length + model.length);
        System.arraycopy(model, 0, argv, common.length, model.length);
        return argv;
    }

    @Test
    void bothLayoutsWriteTheReferencePngs(@TempDir Path tmp) throws Exception {
        Path prompts = Files.writeString(tmp.resolve("prompts.txt"), "a red circle left of a blue square\nthree yellow triangles\n");
        Outcome d = MainTest.run(fixtureRun(prompts, tmp.resolve("d/image.png"), "--model", DIFFUSERS.toString()));
        assertEquals(0, d.status(), d.err());
        assertTrue(d.out().contains("wrote 2 image(s) of 32x32"), d.out());
        Outcome b = MainTest.run(fixtureRun(prompts, tmp.resolve("b/image.png"), "--model", BFL.toString(),
                "--text-encoders", DIFFUSERS.toString(), "--layout", "bfl"));
        assertEquals(0, b.status(), b.err());
        for (int k = 0; k < 2; k++) {
            Path fromDiffusers = tmp.resolve("d/image-" + k + ".png"), fromBfl = tmp.resolve("b/image-" + k + ".png");
            assertArrayEquals(Files.readAllBytes(fromDiffusers), Files.readAllBytes(fromBfl), "image-" + k);
            int levels = maxLevelDiff(ImageIO.read(FIXTURE.resolve("image-" + k + ".png").toFile()), ImageIO.read(fromDiffusers.toFile()));
            System.out.printf("generate image-%d: %d levels from the reference PNG%n", k, levels);
            assertTrue(levels <= 1, "image-" + k + " differs from the reference by " + levels + " levels");
        }
        assertFalse(Files.exists(tmp.resolve("d/image.png")), "several prompts are written as image-K.png");
    }

    static int maxLevelDiff(BufferedImage a, BufferedImage b) {
        assertEquals(a.getWidth(), b.getWidth());
        assertEquals(a.getHeight(), b.getHeight());
        int d = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                int p = a.getRGB(x, y), q = b.getRGB(x, y);
                for (int s = 0; s <= 16; s += 8) d = Math.max(d, Math.abs((p >> s & 0xff) - (q >> s & 0xff)));
            }
        }
        return d;
    }

    /** The README's example. */
    @Test
    void oneSeededPromptWritesThatFile(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("one.png");
        Outcome r = MainTest.run("generate", "--model", DIFFUSERS.toString(), "--prompt", "three yellow triangles",
                "--width", "32", "--height", "32", "--steps", "4", "--max-sequence-length", "32", "--seed", "42",
                "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        BufferedImage img = ImageIO.read(out.toFile());
        assertEquals(32, img.getWidth());
        assertEquals(32, img.getHeight());
    }

    @Test
    void aWidthThatCannotBePackedNamesTheNearestValidSizes(@TempDir Path tmp) {
        Outcome r = MainTest.run("generate", "--model", DIFFUSERS.toString(), "--prompt", "three yellow triangles",
                "--width", "30", "--height", "32", "--out", tmp.resolve("x.png").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("width 30 is not a multiple of 4") && r.err().contains("28 or 32"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
    }

    @Test
    void bflFilesWithoutTextEncodersSayWhereToFindThem(@TempDir Path tmp) {
        Outcome r = MainTest.run("generate", "--model", BFL.toString(), "--prompt", "three yellow triangles",
                "--out", tmp.resolve("x.png").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("--text-encoders"), r.err());
    }

    @Test
    void aShapesModelStillWritesAGrid(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("grid.png");
        Outcome r = MainTest.run("generate", "--model", "../models/shapes-tiny", "--prompt", "a red circle", "--seeds", "2", "--steps", "2", "--scale", "1",
                "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("wrote 2 images for \"a red circle\""), r.out());
        assertNotNull(ImageIO.read(out.toFile()));
        r = MainTest.run("generate", "--model", "../models/shapes-tiny", "--prompt", "a red circle", "--width", "64", "--out", out.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--width: for a FLUX.1 model"), r.err());
    }
}
