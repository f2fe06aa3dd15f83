package fastflux.pipeline.clip;

import fastflux.model.io.SafetensorsReader;
import fastflux.pipeline.RgbImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The clip-tiny-a fixture: a tiny {@code CLIPModel} folder, 4 PNGs, 4 prompts and Hugging Face's outputs. */
final class ClipTinyA {
    private ClipTinyA() {}

    static final Path DIR = Path.of("src/test/resources/fixtures/clip-tiny-a");
    static final List<String> PROMPTS = List.of("a red circle left of a blue square", "three yellow triangles",
            "a photo of a cat", "a green square");
    static final int[][] RESIZED = {{42, 32}, {32, 32}, {32, 45}, {32, 32}}; // pairs.json: width, height

    static List<RgbImage> images() {
        List<RgbImage> out = new ArrayList<>();
        try {
            for (int i = 0; i < 4; i++) out.add(ClipImageProcessor.readImage(DIR.resolve("image-" + i + ".png")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    static float[] floats(String name) {
        try (SafetensorsReader r = SafetensorsReader.open(DIR.resolve("expected.safetensors"))) {
            return r.readFloats(name);
        }
    }

    static long[] longs(String name) {
        try (SafetensorsReader r = SafetensorsReader.open(DIR.resolve("expected.safetensors"))) {
            return r.readLongs(name);
        }
    }

    /** A [rows, n] tensor as rows. */
    static float[][] rows(String name, int rows) {
        float[] flat = floats(name);
        int n = flat.length / rows;
        float[][] out = new float[rows][n];
        for (int i = 0; i < rows; i++) System.arraycopy(flat, i * n, out[i], 0, n);
        return out;
    }

    static long[][] idRows() {
        long[] flat = longs("input_ids");
        long[][] out = new long[flat.length / 77][77];
        for (int i = 0; i < out.length; i++) System.arraycopy(flat, i * 77, out[i], 0, 77);
        return out;
    }

    static float maxAbsDiff(float[][] a, float[][] b) {
        if (a.length != b.length) throw new AssertionError("rows " + a.length + " != " + b.length);
        float m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, ClipFixture.maxAbsDiff(a[i], b[i]));
        return m;
    }

    static double maxAbsDiff(double[][] a, float[][] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            if (a[i].length != b[i].length) throw new AssertionError("row " + i + " lengths differ");
            for (int j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]));
        }
        return m;
    }
}
