package fastflux.pipeline.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import fastflux.model.io.SafetensorsReader;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The text tower and tokenizer of a full {@code CLIPModel} folder (clip-tiny-a: vision tower skipped),
 * against its {@code input_ids}, {@code text_hidden} and {@code text_pooled}.
 */
class ClipModelTextTowerTest {
    static final Path DIR = ClipTinyA.DIR;
    static final List<String> PROMPTS = List.of("a red circle left of a blue square", "three yellow triangles",
            "a photo of a cat", "a green square");

    @Test
    void textTowerOfAClipModelMatchesTheReference() {
        try (SafetensorsReader r = SafetensorsReader.open(DIR.resolve("expected.safetensors"));
             ClipTokenizer t = ClipTokenizer.load(DIR);
             NDManager m = NDManager.newBaseManager("PyTorch");
             ClipTextEncoder encoder = ClipTextEncoder.load(DIR, m)) {
            long[] flat = r.readLongs("input_ids");
            long[][] ids = t.encode(PROMPTS);
            for (int i = 0; i < ids.length; i++) {
                assertArrayEquals(Arrays.copyOfRange(flat, i * 77, (i + 1) * 77), ids[i], PROMPTS.get(i));
            }
            try (ClipTextEncoder.Output out = encoder.forward(ids, m)) {
                float hidden = ClipFixture.maxAbsDiff(out.hidden().toFloatArray(), r.readFloats("text_hidden"));
                float pooled = ClipFixture.maxAbsDiff(out.pooled().toFloatArray(), r.readFloats("text_pooled"));
                System.out.printf("clip-tiny-a text_hidden max abs error %.3g, text_pooled %.3g%n", hidden, pooled);
                assertTrue(hidden < 1e-4, "text_hidden " + hidden);
                assertTrue(pooled < 1e-4, "text_pooled " + pooled);
            }
        }
    }
}
