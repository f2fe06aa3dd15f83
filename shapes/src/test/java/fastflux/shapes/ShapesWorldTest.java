package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ShapesWorldTest {

    @Test
    void masksHaveTheDocumentedRowWidths() {
        assertEquals(24, count(ShapesWorld.mask(ShapeKind.CIRCLE)));
        assertEquals(36, count(ShapesWorld.mask(ShapeKind.SQUARE)));
        assertEquals(24, count(ShapesWorld.mask(ShapeKind.TRIANGLE)));
        boolean[][] t = ShapesWorld.mask(ShapeKind.TRIANGLE);
        assertTrue(t[0][2] && t[0][3] && !t[0][1] && !t[0][4], "upright triangle: 2-pixel apex at the top centre");
    }

    @Test
    void objectsInAdjacentCellsNeverTouch() {
        // Worst case: left object pushed right by the max jitter, right object not jittered.
        int rightEdgeOfLeft = ShapesWorld.CELL + ShapesWorld.MAX_JITTER + ShapesWorld.OBJECT_SIZE - 1;
        int leftEdgeOfRight = 2 * ShapesWorld.CELL;
        assertTrue(leftEdgeOfRight - rightEdgeOfLeft - 1 >= 1, "at least a 1-pixel gap");
        // And every box stays inside its own cell.
        assertTrue(ShapesWorld.MAX_JITTER + ShapesWorld.OBJECT_SIZE <= ShapesWorld.CELL);
    }

    @Test
    void renderPutsPaletteColourOnBlack() {
        Image img = ShapesWorld.render(Scene.of(new SceneObject(ShapeKind.SQUARE, Colour.YELLOW, 1, 2, 1, 0)));
        assertEquals(1f, img.get(8, 17, 0));
        assertEquals(1f, img.get(8, 17, 1));
        assertEquals(0f, img.get(8, 17, 2));
        assertEquals(0f, img.get(8, 16, 0), "jx = 1 leaves the cell's first column black");
        assertEquals(0f, img.get(14, 17, 0), "6 rows from y = 8");
        assertEquals(1f, img.get(13, 22, 0));
    }

    @Test
    void sceneRejectsSharedCellsAndBadCounts() {
        SceneObject a = new SceneObject(ShapeKind.SQUARE, Colour.RED, 0, 0, 0, 0);
        SceneObject b = new SceneObject(ShapeKind.CIRCLE, Colour.BLUE, 0, 0, 1, 1);
        assertThrows(IllegalArgumentException.class, () -> Scene.of(a, b));
        assertThrows(IllegalArgumentException.class, () -> new Scene(List.of()));
        assertThrows(IllegalArgumentException.class, () -> new SceneObject(ShapeKind.SQUARE, Colour.RED, 4, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new SceneObject(ShapeKind.SQUARE, Colour.RED, 0, 0, 2, 0));
    }

    @Test
    void samplingIsDeterministicInTheSeed() {
        for (long seed = 0; seed < 50; seed++) {
            assertEquals(ShapesWorld.sampleExample(seed), ShapesWorld.sampleExample(seed));
            assertEquals(ShapesWorld.sampleExample(seed).image(), ShapesWorld.sampleExample(seed).image());
        }
        assertEquals(PromptSets.sample(40, 7), PromptSets.sample(40, 7));
        assertNotEquals(PromptSets.sample(40, 7), PromptSets.sample(40, 8));
        assertEquals(FrechetDistance.referenceImages(5, 3), FrechetDistance.referenceImages(5, 3));
    }

    @Test
    void sampledExamplesSatisfyTheirOwnPromptAndHoldNothingElse() {
        Set<Category> seen = EnumSet.noneOf(Category.class);
        boolean colouredPosition = false;
        boolean colouredCounting = false;
        for (long seed = 0; seed < 5000; seed++) {
            Example ex = ShapesWorld.sampleExample(seed);
            PromptSpec spec = PromptGrammar.parse(ex.prompt());
            assertEquals(ex.prompt(), spec.text(), "canonical form");
            seen.add(spec.category());
            colouredPosition |= spec.category() == Category.POSITION && spec.objects().get(0).colour() != null;
            colouredCounting |= spec.category() == Category.COUNTING && spec.objects().get(0).colour() != null;
            List<Detection> d = Judge.detect(ex.image());
            assertTrue(Judge.correct(spec, d), () -> "seed " + ex + " detections " + d);
            int want = spec.category() == Category.COUNTING ? spec.count() : spec.objects().size();
            assertEquals(want, ex.scene().objects().size(), ex::toString);
            assertEquals(want, d.size(), ex::toString);
        }
        assertEquals(EnumSet.allOf(Category.class), seen);
        assertTrue(colouredPosition && colouredCounting, "richer variants are sampled too");
    }

    @Test
    void sampledPromptsTokenize() {
        WordTokenizer tok = new WordTokenizer();
        int longest = 0;
        for (Prompt p : PromptSets.sample(3000, 11)) {
            assertEquals(p.category(), p.spec().category());
            tok.encode(p.text(), tok.maxWords());
            longest = Math.max(longest, p.text().split(" ").length);
        }
        assertEquals(tok.maxWords(), longest, "maxWords is the longest prompt the world generates");
    }

    @Test
    void sceneForSatisfiesEveryDevPrompt() {
        SplittableRandom r = new SplittableRandom(5);
        for (Prompt p : TestPrompts.dev()) {
            for (int i = 0; i < 20; i++) {
                Scene s = ShapesWorld.sceneFor(p.spec(), r);
                assertTrue(Judge.correct(p.spec(), Judge.detect(ShapesWorld.render(s))), () -> p + " " + s);
            }
        }
    }

    @Test
    void imageConvertsFromModelOutput() {
        float[] v = new float[Image.LENGTH];
        v[0] = -1;
        v[1] = 1;
        v[2] = 0;
        v[3] = 3;
        Image img = Image.fromModelOutput(v);
        assertEquals(0f, img.get(0, 0, 0));
        assertEquals(1f, img.get(0, 0, 1));
        assertEquals(0.5f, img.get(0, 0, 2));
        assertEquals(1f, img.get(0, 1, 0), "clamped");
        assertEquals(-1f, Image.fromModelOutput(img.toModelInput()).toModelInput()[0]);
        assertThrows(IllegalArgumentException.class, () -> new Image(new float[10]));
    }

    private static int count(boolean[][] m) {
        int n = 0;
        for (boolean[] row : m) {
            for (boolean b : row) {
                n += b ? 1 : 0;
            }
        }
        return n;
    }
}
