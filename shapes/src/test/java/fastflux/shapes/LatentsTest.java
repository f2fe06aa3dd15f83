package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.*;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LatentsTest {
    @Test
    void packThenUnpackIsTheIdentity() {
        float[] img = new float[Image.LENGTH];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < img.length; i++) img[i] = (float) r.nextDouble();
        float[] tokens = Latents.pack(img);
        assertEquals(Latents.TOKENS * Latents.CHANNELS, tokens.length);
        assertArrayEquals(img, Latents.unpack(tokens));
    }

    @Test
    void tokenLayoutFollowsFlux() {
        // pixel (y=5, x=9, c=2) lies in patch row 1, col 2, at (ph=1, pw=1): channel c*16 + ph*4 + pw = 37.
        float[] img = new float[Image.LENGTH];
        img[(5 * Image.SIZE + 9) * 3 + 2] = 1f;
        float[] tokens = Latents.pack(img);
        assertEquals(1f, tokens[(1 * Latents.GRID + 2) * Latents.CHANNELS + 37]);
        float[] ids = Latents.imgIds();
        assertArrayEquals(new float[] {0, 1, 2}, java.util.Arrays.copyOfRange(ids, (1 * 8 + 2) * 3, (1 * 8 + 2) * 3 + 3));
    }

    @Test
    void unknownWordsAreNamed() {
        TextEncoder enc = new TextEncoder(16);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> enc.tokenize(java.util.List.of("a purple hexagon")));
        assertTrue(e.getMessage().contains("purple") && e.getMessage().contains("hexagon"), e.getMessage());
    }
}
