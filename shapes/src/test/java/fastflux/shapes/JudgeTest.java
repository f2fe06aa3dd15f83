package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class JudgeTest {

    @Test
    void scoresAtLeast99PercentOnWorldImagesForDevPrompts() {
        EvalReport report = new EvalReport();
        for (Prompt p : TestPrompts.dev()) {
            for (long seed = 0; seed < 8; seed++) {
                Image img = ShapesWorld.render(ShapesWorld.sceneFor(p.spec(), new SplittableRandom(seed)));
                report.add(p, img);
            }
        }
        assertTrue(report.overall() >= 0.99, report.toJson());
        for (Category c : Category.values()) {
            assertTrue(report.score(c) >= 0.99, report.toJson());
        }
    }

    @Test
    void scoresAtMost20PercentOnUniformNoise() {
        SplittableRandom r = new SplittableRandom(1);
        EvalReport report = new EvalReport();
        for (Prompt p : TestPrompts.dev()) {
            for (int i = 0; i < 4; i++) {
                float[] rgb = new float[Image.LENGTH];
                for (int k = 0; k < rgb.length; k++) {
                    rgb[k] = (float) r.nextDouble();
                }
                report.add(p, new Image(rgb));
            }
        }
        assertTrue(report.overall() <= 0.2, report.toJson());
    }

    @Test
    void everyShapeInEveryColourCellAndJitter() {
        for (ShapeKind s : ShapeKind.values()) {
            for (Colour c : Colour.values()) {
                for (int row = 0; row < ShapesWorld.GRID; row++) {
                    for (int col = 0; col < ShapesWorld.GRID; col++) {
                        for (int jx = 0; jx <= ShapesWorld.MAX_JITTER; jx++) {
                            for (int jy = 0; jy <= ShapesWorld.MAX_JITTER; jy++) {
                                SceneObject o = new SceneObject(s, c, row, col, jx, jy);
                                List<Detection> d = Judge.detect(ShapesWorld.render(Scene.of(o)));
                                assertEquals(1, d.size(), o::toString);
                                assertEquals(s, d.get(0).shape(), o::toString);
                                assertEquals(c, d.get(0).colour(), o::toString);
                                assertEquals(o.x0() + 3.0, d.get(0).cx(), 1e-9, o::toString);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void toleratesBlurAndOffColours() {
        float[] rgb = new float[Image.LENGTH];
        ShapesWorld.draw(rgb, ShapeKind.TRIANGLE, Colour.RED, 12, 12);
        ShapesWorld.draw(rgb, ShapeKind.SQUARE, Colour.CYAN, 2, 2);
        ShapesWorld.draw(rgb, ShapeKind.CIRCLE, Colour.YELLOW, 22, 22);
        float[] blurred = boxBlur(rgb);
        for (int i = 0; i < blurred.length; i += 3) { // dim and wash out: off-palette colours
            blurred[i] = 0.85f * blurred[i] + 0.1f;
            blurred[i + 1] = 0.85f * blurred[i + 1] + 0.1f;
            blurred[i + 2] = 0.8f * blurred[i + 2] + 0.12f;
        }
        List<Detection> d = Judge.detect(new Image(blurred));
        assertEquals(3, d.size(), d::toString);
        assertTrue(Judge.correct(PromptGrammar.parse("a red triangle"), d), d::toString);
        assertTrue(Judge.correct(PromptGrammar.parse("a cyan square"), d), d::toString);
        assertTrue(Judge.correct(PromptGrammar.parse("a yellow circle"), d), d::toString);
        assertTrue(Judge.correct(PromptGrammar.parse("a square above a triangle"), d), d::toString);
    }

    @Test
    void pixelClassifier() {
        assertEquals(Colour.RED, Judge.classifyPixel(0.9f, 0.2f, 0.3f));
        assertEquals(Colour.MAGENTA, Judge.classifyPixel(0.8f, 0.1f, 0.7f));
        assertEquals(Colour.YELLOW, Judge.classifyPixel(0.7f, 0.6f, 0.1f));
        assertNull(Judge.classifyPixel(0.2f, 0f, 0f), "too dark");
        assertNull(Judge.classifyPixel(0.8f, 0.7f, 0.7f), "too grey");
        assertNull(Judge.classifyPixel(0f, 0f, 0f));
    }

    @Test
    void touchingSameColouredShapesAreOneObject() {
        float[] rgb = new float[Image.LENGTH];
        ShapesWorld.draw(rgb, ShapeKind.SQUARE, Colour.GREEN, 4, 4);
        ShapesWorld.draw(rgb, ShapeKind.SQUARE, Colour.GREEN, 10, 4);
        List<Detection> d = Judge.detect(new Image(rgb));
        assertEquals(1, d.size(), d::toString);
        assertFalse(Judge.correct(PromptGrammar.parse("two squares"), d));

        float[] circles = new float[Image.LENGTH];
        ShapesWorld.draw(circles, ShapeKind.CIRCLE, Colour.BLUE, 4, 4);
        ShapesWorld.draw(circles, ShapeKind.CIRCLE, Colour.BLUE, 4, 10);
        assertEquals(1, Judge.detect(new Image(circles)).size());

        // Differently coloured neighbours that touch stay two objects.
        float[] mixed = new float[Image.LENGTH];
        ShapesWorld.draw(mixed, ShapeKind.SQUARE, Colour.GREEN, 4, 4);
        ShapesWorld.draw(mixed, ShapeKind.SQUARE, Colour.RED, 10, 4);
        assertTrue(Judge.correct(PromptGrammar.parse("two squares"), Judge.detect(new Image(mixed))));
    }

    @Test
    void sameColouredNeighboursInAdjacentCellsStaySeparate() {
        // The world's worst case: max jitter towards each other, all four neighbours the same colour.
        Scene s = Scene.of(
                new SceneObject(ShapeKind.SQUARE, Colour.RED, 1, 1, 1, 1),
                new SceneObject(ShapeKind.SQUARE, Colour.RED, 1, 2, 0, 1),
                new SceneObject(ShapeKind.SQUARE, Colour.RED, 2, 1, 1, 0),
                new SceneObject(ShapeKind.SQUARE, Colour.RED, 2, 2, 0, 0));
        List<Detection> d = Judge.detect(ShapesWorld.render(s));
        assertEquals(4, d.size(), d::toString);
        assertTrue(Judge.correct(PromptGrammar.parse("four red squares"), d));
        assertFalse(Judge.correct(PromptGrammar.parse("three squares"), d));
    }

    @Test
    void bordersCellsAndClippedShapes() {
        Scene corners = Scene.of(
                new SceneObject(ShapeKind.TRIANGLE, Colour.BLUE, 0, 0, 0, 0),
                new SceneObject(ShapeKind.CIRCLE, Colour.MAGENTA, 0, 3, 1, 0),
                new SceneObject(ShapeKind.SQUARE, Colour.CYAN, 3, 0, 0, 1),
                new SceneObject(ShapeKind.TRIANGLE, Colour.YELLOW, 3, 3, 1, 1));
        List<Detection> d = Judge.detect(ShapesWorld.render(corners));
        assertEquals(4, d.size());
        assertTrue(Judge.correct(PromptGrammar.parse("a triangle above a square"), d));
        assertTrue(Judge.correct(PromptGrammar.parse("a blue triangle left of a magenta circle"), d));
        assertTrue(Judge.correct(PromptGrammar.parse("two triangles"), d));
        assertTrue(Judge.correct(PromptGrammar.parse("a cyan square and a yellow triangle"), d));
        assertFalse(Judge.correct(PromptGrammar.parse("a yellow square and a cyan triangle"), d));
        assertTrue(Judge.correct(PromptGrammar.parse("a triangle below a circle"), d), "yellow (3,3) under (0,3)");
        assertFalse(Judge.correct(PromptGrammar.parse("a circle below a square"), d));
    }

    @Test
    void exactDiagonalIsNoRelation() {
        // Two squares on an exact diagonal: centroid offsets (8, 8).
        float[] rgb = new float[Image.LENGTH];
        ShapesWorld.draw(rgb, ShapeKind.SQUARE, Colour.RED, 8, 8);
        ShapesWorld.draw(rgb, ShapeKind.CIRCLE, Colour.GREEN, 16, 16);
        List<Detection> d = Judge.detect(new Image(rgb));
        assertEquals(2, d.size());
        for (String rel : List.of("left of", "right of", "above", "below")) {
            assertFalse(Judge.correct(PromptGrammar.parse("a square " + rel + " a circle"), d), rel);
        }
        // One pixel off the diagonal decides it.
        float[] near = new float[Image.LENGTH];
        ShapesWorld.draw(near, ShapeKind.SQUARE, Colour.RED, 8, 8);
        ShapesWorld.draw(near, ShapeKind.CIRCLE, Colour.GREEN, 17, 16);
        List<Detection> dn = Judge.detect(new Image(near));
        assertTrue(Judge.correct(PromptGrammar.parse("a square left of a circle"), dn));
        assertFalse(Judge.correct(PromptGrammar.parse("a square above a circle"), dn));
    }

    @Test
    void positionAcceptsAnyMatchingPairAndNeedsTwoDistinctObjects() {
        List<Detection> d = List.of(
                new Detection(ShapeKind.CIRCLE, Colour.RED, 20, 4, 24),
                new Detection(ShapeKind.CIRCLE, Colour.BLUE, 4, 4, 24),
                new Detection(ShapeKind.SQUARE, Colour.RED, 12, 4, 36));
        assertTrue(Judge.correct(PromptGrammar.parse("a circle left of a square"), d));
        assertTrue(Judge.correct(PromptGrammar.parse("a circle right of a square"), d));
        assertFalse(Judge.correct(PromptGrammar.parse("a red circle left of a square"), d));
        assertTrue(Judge.correct(PromptGrammar.parse("a circle left of a circle"), d));
        List<Detection> one = List.of(new Detection(ShapeKind.CIRCLE, Colour.RED, 20, 4, 24));
        assertFalse(Judge.correct(PromptGrammar.parse("a circle and a circle"), one), "one detection, two objects");
        assertFalse(Judge.correct(PromptGrammar.parse("a circle left of a circle"), one));
        assertTrue(Judge.correct(PromptGrammar.parse("a circle"), one));
        assertFalse(Judge.correct(PromptGrammar.parse("a blue circle"), one));
        assertTrue(Judge.correct(PromptGrammar.parse("two circles"), d));
        assertFalse(Judge.correct(PromptGrammar.parse("three circles"), d));
        assertFalse(Judge.correct(PromptGrammar.parse("two red circles"), d));
    }

    @Test
    void blankImageFindsNothing() {
        assertTrue(Judge.detect(Image.black()).isEmpty());
        assertFalse(Judge.correct("a circle", Image.black()));
    }

    private static float[] boxBlur(float[] rgb) {
        int s = Image.SIZE;
        float[] out = new float[rgb.length];
        for (int y = 0; y < s; y++) {
            for (int x = 0; x < s; x++) {
                for (int c = 0; c < 3; c++) {
                    float sum = 0;
                    int n = 0;
                    for (int dy = -1; dy <= 1; dy++) {
                        for (int dx = -1; dx <= 1; dx++) {
                            int yy = y + dy;
                            int xx = x + dx;
                            if (yy >= 0 && yy < s && xx >= 0 && xx < s) {
                                sum += rgb[Image.index(yy, xx, c)] * (dx == 0 && dy == 0 ? 4 : 1);
                                n += dx == 0 && dy == 0 ? 4 : 1;
                            }
                        }
                    }
                    out[Image.index(y, x, c)] = sum / n;
                }
            }
        }
        return out;
    }
}
