package fastflux.pipeline.vae;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Tensors;
import org.junit.jupiter.api.Test;

/** The autoencoder's tensor functions against hand-computed values. */
class VaeNnTest {
    @Test
    void upsamplingRepeatsEachPixelTwiceEachWay() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = Tensors.create(m, new float[] {1, 2, 3, 4}, new Shape(1, 1, 2, 2));
            assertArrayEquals(new float[] {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4},
                    VaeNn.upsampleNearest2x(x).toFloatArray());
        }
    }

    @Test
    void paddingAddsAZeroRowBelowAndAZeroColumnRight() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = Tensors.create(m, new float[] {1, 2, 3, 4}, new Shape(1, 1, 2, 2));
            NDArray y = VaeNn.padRightBottom(x);
            assertEquals(new Shape(1, 1, 3, 3), y.getShape());
            assertArrayEquals(new float[] {1, 2, 0, 3, 4, 0, 0, 0, 0}, y.toFloatArray());
        }
    }

    @Test
    void groupNormNormalisesEachGroupOverChannelsAndPositions() {
        // 64 channels in 32 groups of 2, 2 positions: group g holds 4 values.
        int c = 64;
        float[] data = new float[c * 2];
        for (int i = 0; i < data.length; i++) data[i] = (float) Math.sin(i * 0.7) * (1 + i % 5);
        float[] w = new float[c], b = new float[c];
        for (int i = 0; i < c; i++) {
            w[i] = 0.5f + i * 0.01f;
            b[i] = -0.1f * (i % 3);
        }
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = Tensors.create(m, data, new Shape(1, c, 1, 2));
            float[] got = VaeNn.groupNorm(x, 32, Tensors.create(m, w, new Shape(c)), Tensors.create(m, b, new Shape(c))).toFloatArray();
            for (int g = 0; g < 32; g++) {
                double mean = 0, var = 0;
                for (int i = 4 * g; i < 4 * g + 4; i++) mean += data[i] / 4.0;
                for (int i = 4 * g; i < 4 * g + 4; i++) var += (data[i] - mean) * (data[i] - mean) / 4.0;
                for (int i = 4 * g; i < 4 * g + 4; i++) {
                    int ch = i / 2;
                    double want = (data[i] - mean) / Math.sqrt(var + 1e-6) * w[ch] + b[ch];
                    assertEquals(want, got[i], 1e-5, "element " + i);
                }
            }
        }
    }

    @Test
    void swishIsXTimesSigmoid() {
        try (NDManager m = NDManager.newBaseManager()) {
            float[] got = VaeNn.swishInPlace(Tensors.create(m, new float[] {-2, 0, 1.5f}, new Shape(3))).toFloatArray();
            assertEquals(-2 / (1 + Math.exp(2)), got[0], 1e-6);
            assertEquals(0, got[1], 0);
            assertEquals(1.5 / (1 + Math.exp(-1.5)), got[2], 1e-6);
        }
    }

    @Test
    void tiledAttentionEqualsTheWholeScoreMatrix() {
        long saved = fastflux.model.Attention.maxScoreElements;
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.randomNormal(new Shape(2, 1, 10, 8)), k = m.randomNormal(new Shape(2, 1, 10, 8)), v = m.randomNormal(new Shape(2, 1, 10, 8));
            float[] whole = AttnBlock.attend(q, k, v).toFloatArray();
            fastflux.model.Attention.maxScoreElements = 2 * 10 * 3; // tiles of 3 query rows, the last one of 1
            float[] tiled = AttnBlock.attend(q, k, v).toFloatArray();
            assertArrayEquals(whole, tiled, 1e-6f);
        } finally {
            fastflux.model.Attention.maxScoreElements = saved;
        }
    }
}
