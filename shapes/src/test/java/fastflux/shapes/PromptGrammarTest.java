package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PromptGrammarTest {
    @TempDir
    Path dir;

    @Test
    void parsesEveryForm() {
        assertEquals(new PromptSpec(Category.SINGLE_OBJECT, List.of(new ObjectSpec(ShapeKind.CIRCLE, null)), 0, null),
                PromptGrammar.parse("a circle"));
        assertEquals(new PromptSpec(Category.COLORS, List.of(new ObjectSpec(ShapeKind.SQUARE, Colour.CYAN)), 0, null),
                PromptGrammar.parse("a cyan square"));
        assertEquals(Category.TWO_OBJECT, PromptGrammar.parse("a circle and a triangle").category());
        PromptSpec count = PromptGrammar.parse("three triangles");
        assertEquals(Category.COUNTING, count.category());
        assertEquals(3, count.count());
        assertEquals(new ObjectSpec(ShapeKind.TRIANGLE, null), count.objects().get(0));
        assertEquals(new ObjectSpec(ShapeKind.CIRCLE, Colour.RED), PromptGrammar.parse("two red circles").objects().get(0));
        PromptSpec attr = PromptGrammar.parse("a red circle and a blue triangle");
        assertEquals(Category.COLOR_ATTR, attr.category());
        assertEquals(List.of(new ObjectSpec(ShapeKind.CIRCLE, Colour.RED), new ObjectSpec(ShapeKind.TRIANGLE, Colour.BLUE)),
                attr.objects());
        PromptSpec pos = PromptGrammar.parse("a square left of a circle");
        assertEquals(Category.POSITION, pos.category());
        assertEquals(Relation.LEFT_OF, pos.relation());
        assertEquals(ShapeKind.SQUARE, pos.objects().get(0).shape());
        assertEquals(Relation.BELOW, PromptGrammar.parse("a magenta triangle below a green square").relation());
        assertEquals(Relation.RIGHT_OF, PromptGrammar.parse("a circle right of a square").relation());
        assertEquals(Relation.ABOVE, PromptGrammar.parse("a circle above a square").relation());
    }

    @Test
    void formatIsTheInverseOfParse() {
        for (Prompt p : TestPrompts.dev()) {
            assertEquals(p.text(), PromptGrammar.format(p.spec()));
        }
    }

    @Test
    void rejectsAnythingElseQuotingThePrompt() {
        for (String bad : List.of("", "a circles", "a purple circle", "five circles", "two circle", "a circle and",
                "a circle near a square", "a circle left a square", "A circle", "a red circle and a square",
                "circle", "a circle and a square and a triangle", "two red blue circles", "the circle")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptGrammar.parse(bad),
                    bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
    }

    @Test
    void readsTheDevFile() throws IOException {
        List<Prompt> dev = PromptFile.read(TestPrompts.devFile());
        assertEquals(66, dev.size());
        for (Category c : Category.values()) {
            assertTrue(dev.stream().anyMatch(p -> p.category() == c), c.key());
        }
    }

    @Test
    void promptFileErrorsNameFileAndLine() throws IOException {
        assertFileError("colors\ta red circle\n\nfoo\ta circle\n", ":3: unknown category (known: single_object, ");
        assertFileError("colors a red circle\n", ":1: expected 'category<TAB>prompt'");
        assertFileError("colors\ta red circle\textra\n", ":1: expected 'category<TAB>prompt'");
        assertFileError("\ncounting\ta circle\n", ":2: the prompt is single_object, not counting");
        assertFileError("colors\ta red blob\n", ":1: the prompt is outside the Shapes grammar");
        Path ok = dir.resolve("ok.tsv");
        Files.writeString(ok, "\n\ncolors\ta red circle\r\n\n");
        assertEquals(List.of(new Prompt(Category.COLORS, "a red circle")), PromptFile.read(ok));
        // What spreadsheets and scripts add: a byte-order mark, a header, comments.
        Files.writeString(ok, "\uFEFFcategory\tprompt\r\n# drawn for a check\ncolors\ta red circle\n  # indented comment\n"
                + "counting\ttwo squares\n");
        assertEquals(List.of(new Prompt(Category.COLORS, "a red circle"), new Prompt(Category.COUNTING, "two squares")),
                PromptFile.read(ok));
        assertFileError("colors\ta red circle\ncategory\tprompt\n", ":2: unknown category"); // only before the first prompt
        assertFileError("\n# nothing here\ncategory\tprompt\n", ": no prompts");
    }

    @Test
    void aPromptFileErrorNeverQuotesTheFile() throws IOException {
        // what a hostile job would point at: the error names the file and line, not what is written there
        Path f = dir.resolve("passwd");
        Files.writeString(f, "root:x:0:0:root:/root:/bin/bash\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptFile.read(f));
        assertEquals(f + ":1: expected 'category<TAB>prompt', found 1 column", e.getMessage());
        Files.writeString(f, "root\tx:0:0\n");
        e = assertThrows(IllegalArgumentException.class, () -> PromptFile.read(f));
        org.junit.jupiter.api.Assertions.assertFalse(e.getMessage().contains("root") || e.getMessage().contains("x:0"), e.getMessage());
    }

    private void assertFileError(String content, String expected) throws IOException {
        Path f = dir.resolve("p.tsv");
        Files.writeString(f, content);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptFile.read(f));
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void tokenizerEncodesPadsAndNamesUnknownWords() {
        WordTokenizer tok = new WordTokenizer();
        assertEquals(23, tok.vocabSize());
        assertEquals(8, tok.maxWords());
        int[] ids = tok.encode("a red circle", 5);
        assertArrayEquals(new int[] {1, 9, 3, 0, 0}, ids);
        assertEquals("a red circle", tok.decode(ids));
        assertArrayEquals(new int[8], tok.encode("", 8), "empty prompt is all PAD for CFG");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tok.encode("a purple circle near a mauve square", 8));
        assertTrue(e.getMessage().contains("[purple, near, mauve]"), e.getMessage());
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                () -> tok.encode("a red circle left of a blue square", 7));
        assertTrue(tooLong.getMessage().contains("8 words, more than maxLen 7"), tooLong.getMessage());
        for (Prompt p : TestPrompts.dev()) {
            assertEquals(p.text(), tok.decode(tok.encode(p.text(), tok.maxWords())));
        }
    }

    @Test
    void relationRuleIsStrict() {
        assertTrue(Relation.LEFT_OF.holds(-5, 4));
        assertTrue(Relation.RIGHT_OF.holds(5, -4));
        assertTrue(Relation.ABOVE.holds(1, -2));
        assertTrue(Relation.BELOW.holds(-1, 2));
        for (Relation r : Relation.values()) {
            assertTrue(!r.holds(5, 5) && !r.holds(-5, 5) && !r.holds(0, 0), "a diagonal is no relation: " + r);
        }
        assertNull(Relation.fromPhrase("near"));
    }
}
