package fastflux.pipeline.t5;

import static org.junit.jupiter.api.Assertions.*;

import fastflux.model.io.SafetensorsReader;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** T5 tokenization against the reference ids of fixtures/flux-pipeline-a. */
class T5TokenizerTest {
    static final Path FIXTURE = Path.of("src/test/resources/fixtures/flux-pipeline-a");
    static final Path DIR = FIXTURE.resolve("diffusers/tokenizer_2");
    static final List<String> PROMPTS = List.of("a red circle left of a blue square", "three yellow triangles");

    @Test
    void idsEqualTheReference() {
        long[] expected;
        try (SafetensorsReader r = SafetensorsReader.open(FIXTURE.resolve("expected.safetensors"))) {
            expected = r.readLongs("t5_ids");
        }
        try (T5Tokenizer t = T5Tokenizer.load(DIR, 32)) {
            long[][] ids = t.encode(PROMPTS);
            assertEquals(32, t.length());
            for (int b = 0; b < 2; b++) {
                System.out.println(Arrays.toString(ids[b]));
                assertArrayEquals(Arrays.copyOfRange(expected, 32 * b, 32 * b + 32), ids[b], "prompt " + b);
            }
        }
    }

    @Test
    void overlongPromptIsTruncatedWithEosLast() {
        String longPrompt = String.join(" ", java.util.Collections.nCopies(20, "a red circle"));
        try (T5Tokenizer t = T5Tokenizer.load(DIR, 8)) {
            long[] ids = t.encode(longPrompt);
            System.out.println(Arrays.toString(ids));
            assertEquals(8, ids.length);
            assertEquals(t.eosId(), ids[7]);
        }
    }
}
