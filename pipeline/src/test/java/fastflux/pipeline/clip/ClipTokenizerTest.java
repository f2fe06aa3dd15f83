package fastflux.pipeline.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The CLIP tokenizer built from vocab.json and merges.txt, against the fixture's ids. */
class ClipTokenizerTest {

    @Test
    void promptsGiveTheFixtureIds() {
        long[][] expected = ClipFixture.expectedIds();
        try (ClipTokenizer t = ClipTokenizer.load(ClipFixture.TOKENIZER)) {
            assertEquals(77, t.specials().maxLength());
            assertEquals(ClipFixture.BOS, t.specials().bosId());
            assertEquals(ClipFixture.EOS, t.specials().eosId());
            assertEquals(ClipFixture.EOS, t.specials().padId());
            long[][] ids = t.encode(ClipFixture.PROMPTS);
            for (int i = 0; i < expected.length; i++) {
                System.out.println(t.tokens(ClipFixture.PROMPTS.get(i)).subList(0, 14));
                assertArrayEquals(expected[i], ids[i], "prompt " + i);
            }
        }
    }
}
