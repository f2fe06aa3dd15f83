package fastflux.pipeline.clip;

import fastflux.model.io.SafetensorsReader;
import java.nio.file.Path;
import java.util.List;

/** The flux-pipeline-a fixture's CLIP parts. */
final class ClipFixture {
    private ClipFixture() {}

    static final Path DIR = Path.of("src/test/resources/fixtures/flux-pipeline-a");
    static final Path TOKENIZER = DIR.resolve("diffusers/tokenizer");
    static final Path TEXT_ENCODER = DIR.resolve("diffusers/text_encoder");
    static final List<String> PROMPTS = List.of("a red circle left of a blue square", "three yellow triangles");
    static final int LENGTH = 77;
    static final int BOS = 662;
    static final int EOS = 663;

    /** {@code clip_ids} as rows. */
    static long[][] expectedIds() {
        try (SafetensorsReader r = SafetensorsReader.open(DIR.resolve("expected.safetensors"))) {
            long[] flat = r.readLongs("clip_ids");
            long[][] rows = new long[flat.length / LENGTH][LENGTH];
            for (int i = 0; i < rows.length; i++) System.arraycopy(flat, i * LENGTH, rows[i], 0, LENGTH);
            return rows;
        }
    }

    static float[] expectedFloats(String name) {
        try (SafetensorsReader r = SafetensorsReader.open(DIR.resolve("expected.safetensors"))) {
            return r.readFloats(name);
        }
    }

    static long[] expectedLongs(String name) {
        try (SafetensorsReader r = SafetensorsReader.open(DIR.resolve("expected.safetensors"))) {
            return r.readLongs(name);
        }
    }

    static float maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) throw new AssertionError("lengths " + a.length + " != " + b.length);
        float m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }
}
