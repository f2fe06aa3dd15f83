package fastflux.pipeline.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLIP tokenizer built from vocab.json and merges.txt, against the fixture's ids and CLIP's rules. */
class ClipTokenizerTest {

    @Test
    void promptsGiveTheFixtureIds() {
        long[][] expected = ClipFixture.expectedIds();
        try (ClipTokenizer t = ClipTokenizer.load(ClipFixture.TOKENIZER)) {
            assertEquals(new ClipTokenizer.Specials("<|startoftext|>", ClipFixture.BOS, "<|endoftext|>", ClipFixture.EOS,
                    "<|endoftext|>", ClipFixture.EOS, "<|endoftext|>", 77), t.specials());
            long[][] ids = t.encode(ClipFixture.PROMPTS);
            for (int i = 0; i < expected.length; i++) assertArrayEquals(expected[i], ids[i], "prompt " + i);
            assertEquals(List.of("<|startoftext|>", "three</w>", "yellow</w>", "triangles</w>", "<|endoftext|>"),
                    t.tokens(ClipFixture.PROMPTS.get(1)).subList(0, 5));
        }
    }

    @Test
    void caseAndWhitespaceDoNotMatter() {
        long[] expected = ClipFixture.expectedIds()[0];
        try (ClipTokenizer t = ClipTokenizer.load(ClipFixture.TOKENIZER)) {
            assertArrayEquals(expected, t.encode("  A RED\tCircle \n\n left OF a Blue   SQUARE  "));
            assertArrayEquals(expected, t.encode("a red circle left of a blue square\u3000"));
        }
    }

    /**
     * Expected ids from an independent port of openai/CLIP's {@code simple_tokenizer.py} on these files:
     * punctuation runs are their own words, digits split one by one, contractions split off, words outside the
     * vocabulary fall apart into merges and bytes, and non-ASCII letters are lower-cased and byte-encoded.
     */
    @Test
    void punctuationDigitsContractionsAndUnknownWords() {
        try (ClipTokenizer t = ClipTokenizer.load(ClipFixture.TOKENIZER)) {
            assertIds(t, "  A RED\tCircle,\n left of a BLUE   square!  ", 320, 551, 526, 267, 541, 531, 320, 538, 525, 256);
            assertIds(t, "three-yellow triangles... (small)?", 568, 268, 562, 553, 13, 13, 269, 263, 604, 8, 286);
            assertIds(t, "a photo of a cat's 3 squares", 320, 79, 71, 78, 583, 531, 320, 66, 642, 6, 338, 274, 567);
            assertIds(t, "CAFÉ naïve 42", 66, 638, 127, 358, 77, 64, 127, 107, 85, 324, 275, 273);
            assertIds(t, "don't stop", 67, 78, 333, 6, 339, 82, 83, 78, 335);
            assertIds(t, "");
        }
    }

    @Test
    void longPromptIsTruncatedWithEndOfTextLast() {
        long[] one = ClipFixture.expectedIds()[0];
        long[] words = Arrays.copyOfRange(one, 1, 9); // the 8 BPE tokens of prompt 0
        try (ClipTokenizer t = ClipTokenizer.load(ClipFixture.TOKENIZER)) {
            long[] ids = t.encode((ClipFixture.PROMPTS.get(0) + " ").repeat(10)); // 80 tokens
            assertEquals(77, ids.length);
            assertEquals(ClipFixture.BOS, ids[0]);
            for (int i = 1; i < 76; i++) assertEquals(words[(i - 1) % 8], ids[i], "position " + i);
            assertEquals(ClipFixture.EOS, ids[76]);
        }
    }

    @Test
    void builtJsonIsCLIPTokenizerFasts() {
        JsonObject json = ClipTokenizer.tokenizerJson(ClipFixture.TOKENIZER);
        JsonObject model = json.getAsJsonObject("model");
        assertEquals("BPE", model.get("type").getAsString());
        assertEquals("</w>", model.get("end_of_word_suffix").getAsString());
        assertEquals("<|endoftext|>", model.get("unk_token").getAsString());
        assertEquals(664, model.getAsJsonObject("vocab").size());
        assertEquals(150, model.getAsJsonArray("merges").size());
        assertEquals("l e</w>", model.getAsJsonArray("merges").get(0).getAsString());
        assertEquals("RobertaProcessing", json.getAsJsonObject("post_processor").get("type").getAsString());
        assertEquals(663, json.getAsJsonObject("padding").get("pad_id").getAsInt());
        assertEquals(77, json.getAsJsonObject("truncation").get("max_length").getAsInt());
    }

    @Test
    void modelMaxLengthApplies(@TempDir Path tmp) throws Exception {
        copyTokenizer(tmp);
        Path config = tmp.resolve("tokenizer_config.json");
        Files.writeString(config, Files.readString(config).replace("\"model_max_length\": 77", "\"model_max_length\": 8"));
        try (ClipTokenizer t = ClipTokenizer.load(tmp)) {
            assertArrayEquals(new long[] {662, 320, 551, 526, 541, 531, 320, 663}, t.encode(ClipFixture.PROMPTS.get(0)));
            assertArrayEquals(new long[] {662, 568, 562, 553, 663, 663, 663, 663}, t.encode(ClipFixture.PROMPTS.get(1)));
        }
    }

    @Test
    void badMergesAreNamedWithTheFile(@TempDir Path tmp) throws Exception {
        copyTokenizer(tmp);
        Files.writeString(tmp.resolve("merges.txt"), "#version: 0.2\nl e</w>\nabc\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(tmp));
        assertTrue(e.getMessage().contains(tmp.resolve("merges.txt").toString()), e.getMessage());
        assertTrue(e.getMessage().contains("line 3"), e.getMessage());
    }

    @Test
    void unknownSpecialTokenIsNamed(@TempDir Path tmp) throws Exception {
        copyTokenizer(tmp);
        Files.delete(tmp.resolve("tokenizer_config.json"));
        Files.writeString(tmp.resolve("special_tokens_map.json"), "{\"bos_token\": \"<|begin|>\"}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipTokenizer.load(tmp));
        assertTrue(e.getMessage().contains("<|begin|>"), e.getMessage());
        assertTrue(e.getMessage().contains(tmp.resolve("vocab.json").toString()), e.getMessage());
    }

    private static void copyTokenizer(Path to) throws Exception {
        for (String f : List.of("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")) {
            Files.copy(ClipFixture.TOKENIZER.resolve(f), to.resolve(f));
        }
    }

    /** {@code <|startoftext|>}, the tokens, {@code <|endoftext|>}, then padding with it to 77. */
    private static void assertIds(ClipTokenizer t, String prompt, long... tokens) {
        long[] expected = new long[77];
        Arrays.fill(expected, ClipFixture.EOS);
        expected[0] = ClipFixture.BOS;
        System.arraycopy(tokens, 0, expected, 1, tokens.length);
        assertArrayEquals(expected, t.encode(prompt), prompt);
    }
}
