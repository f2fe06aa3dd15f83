package fastflux.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Tensors;

/**
 * The reference's {@code prepare} and {@code unpack}: latents [B, C, h, w] as 2x2 patches, one token each, in
 * row-major order ({@code b c (h 2) (w 2) -> b (h w) (c 2 2)}), with position ids (0, row, col) per token.
 */
public final class PackedLatents {
    private PackedLatents() {}

    // latents [B, C, h, w] -> [B, h/2 * w/2, 4C]
    public static NDArray pack(NDArray latents) {
        long[] s = latents.getShape().getShape();
        if (s.length != 4 || s[2] % 2 != 0 || s[3] % 2 != 0) {
            throw new IllegalArgumentException("latents to pack must be [B, C, h, w] with even h and w, got " + latents.getShape());
        }
        long b = s[0], c = s[1], h = s[2] / 2, w = s[3] / 2;
        try (NDArray six = latents.reshape(b, c, h, 2, w, 2); NDArray t = six.transpose(0, 2, 4, 1, 3, 5)) {
            return t.reshape(b, h * w, c * 4);
        }
    }

    // packed [B, h/2 * w/2, 4C] -> [B, C, h, w]
    public static NDArray unpack(NDArray packed, int h, int w) {
        long[] s = packed.getShape().getShape();
        if (s.length != 3 || h % 2 != 0 || w % 2 != 0 || s[1] != (long) (h / 2) * (w / 2) || s[2] % 4 != 0) {
            throw new IllegalArgumentException("packed latents " + packed.getShape() + " are not a " + h + "x" + w + " latent");
        }
        long b = s[0], c = s[2] / 4;
        try (NDArray six = packed.reshape(b, h / 2, w / 2, c, 2, 2); NDArray t = six.transpose(0, 3, 1, 4, 2, 5)) {
            return t.reshape(b, c, h, w);
        }
    }

    /** The image tokens' position ids (0, row, col) over the {@code h/2 x w/2} token grid, row-major. */
    // -> [B, h/2 * w/2, 3]
    public static NDArray imageIds(NDManager m, int batch, int h, int w) {
        int rows = h / 2, cols = w / 2, n = rows * cols;
        float[] ids = new float[batch * n * 3];
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < n; i++) {
                int o = (b * n + i) * 3;
                ids[o + 1] = i / cols;
                ids[o + 2] = i % cols;
            }
        }
        return Tensors.create(m, ids, new Shape(batch, n, 3));
    }
}
