package fastflux.shapes;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The Shapes world: 32x32 black images with 1 to 4 hard-edged objects, each in its own cell of a 4x4
 * lattice of 8-pixel cells. Everything is a pure function of a seed; nothing is stored.
 *
 * <p>Objects have a fixed 6x6 bounding box placed at {@code (8 * col + jx, 8 * row + jy)} with jitter
 * jx, jy in {0, 1}, so a box stays inside its cell and boxes in adjacent cells keep a gap of at least
 * 1 pixel (8 - 6 - 1): same-coloured neighbours never touch, even diagonally.
 *
 * <p>A prompt determines the content of its scene (which objects, and no others); only the colours it
 * leaves open and the layout are random. Relations are drawn on cells: "A left of B" puts A in a
 * column left of B's with |dcol| > |drow|, which keeps the judge's pixel rule: |dx| >= 8|dcol| - 1
 * exceeds |dy| <= 8|drow| + 1 + 2/3 (jitter plus the triangle's low centroid).
 */
public final class ShapesWorld {
    public static final int SIZE = Image.SIZE;
    public static final int GRID = 4;
    public static final int CELL = SIZE / GRID;
    public static final int OBJECT_SIZE = 6;
    public static final int MAX_JITTER = CELL - OBJECT_SIZE - 1;
    public static final int MAX_OBJECTS = 4;

    /** Row widths of the 6x6 masks, centred: a rounded disc and an upright triangle. */
    private static final int[] CIRCLE_ROWS = {2, 4, 6, 6, 4, 2};
    private static final int[] SQUARE_ROWS = {6, 6, 6, 6, 6, 6};
    private static final int[] TRIANGLE_ROWS = {2, 2, 4, 4, 6, 6};

    /** The training prompt forms: the six categories plus coloured counting and coloured position. */
    private enum Form { SINGLE, COLORS, TWO, COUNTING, COUNTING_COLOURED, COLOR_ATTR, POSITION, POSITION_COLOURED }

    private ShapesWorld() {}

    /** The 6x6 mask of a shape, [row][col]. */
    public static boolean[][] mask(ShapeKind shape) {
        int[] rows = switch (shape) {
            case CIRCLE -> CIRCLE_ROWS;
            case SQUARE -> SQUARE_ROWS;
            case TRIANGLE -> TRIANGLE_ROWS;
        };
        boolean[][] m = new boolean[OBJECT_SIZE][OBJECT_SIZE];
        for (int y = 0; y < OBJECT_SIZE; y++) {
            int from = (OBJECT_SIZE - rows[y]) / 2;
            for (int x = from; x < from + rows[y]; x++) {
                m[y][x] = true;
            }
        }
        return m;
    }

    public static Image render(Scene scene) {
        float[] rgb = new float[Image.LENGTH];
        for (SceneObject o : scene.objects()) {
            draw(rgb, o.shape(), o.colour(), o.x0(), o.y0());
        }
        return new Image(rgb);
    }

    /** Draws a shape with its box's top-left at (x0, y0), clipped to the image; for hand-made tests. */
    public static void draw(float[] rgb, ShapeKind shape, Colour colour, int x0, int y0) {
        boolean[][] m = mask(shape);
        for (int y = 0; y < OBJECT_SIZE; y++) {
            for (int x = 0; x < OBJECT_SIZE; x++) {
                int px = x0 + x;
                int py = y0 + y;
                if (m[y][x] && px >= 0 && px < SIZE && py >= 0 && py < SIZE) {
                    int i = Image.index(py, px, 0);
                    rgb[i] = colour.r();
                    rgb[i + 1] = colour.g();
                    rgb[i + 2] = colour.b();
                }
            }
        }
    }

    public static Example sampleExample(long seed) {
        return sampleExample(new SplittableRandom(seed));
    }

    /** A prompt from the training distribution and a scene that satisfies it. */
    public static Example sampleExample(SplittableRandom random) {
        PromptSpec spec = sampleSpec(random);
        return new Example(sceneFor(spec, random), spec.text());
    }

    /** A prompt from the training distribution (as {@link #sampleExample}), e.g. for calibration sets. */
    public static Prompt samplePrompt(SplittableRandom random) {
        PromptSpec spec = sampleSpec(random);
        return new Prompt(spec.category(), spec.text());
    }

    static PromptSpec sampleSpec(SplittableRandom r) {
        Form form = Form.values()[r.nextInt(Form.values().length)];
        ShapeKind a = shape(r);
        ShapeKind b = otherShape(r, a);
        return switch (form) {
            case SINGLE -> new PromptSpec(Category.SINGLE_OBJECT, List.of(new ObjectSpec(a, null)), 0, null);
            case COLORS -> new PromptSpec(Category.COLORS, List.of(new ObjectSpec(a, colour(r))), 0, null);
            case TWO -> new PromptSpec(Category.TWO_OBJECT,
                    List.of(new ObjectSpec(a, null), new ObjectSpec(b, null)), 0, null);
            case COUNTING -> new PromptSpec(Category.COUNTING,
                    List.of(new ObjectSpec(a, null)), 2 + r.nextInt(MAX_OBJECTS - 1), null);
            case COUNTING_COLOURED -> new PromptSpec(Category.COUNTING,
                    List.of(new ObjectSpec(a, colour(r))), 2 + r.nextInt(MAX_OBJECTS - 1), null);
            case COLOR_ATTR -> new PromptSpec(Category.COLOR_ATTR,
                    List.of(new ObjectSpec(a, colour(r)), new ObjectSpec(b, colour(r))), 0, null);
            case POSITION -> new PromptSpec(Category.POSITION,
                    List.of(new ObjectSpec(a, null), new ObjectSpec(b, null)), 0, relation(r));
            case POSITION_COLOURED -> new PromptSpec(Category.POSITION,
                    List.of(new ObjectSpec(a, colour(r)), new ObjectSpec(b, colour(r))), 0, relation(r));
        };
    }

    /**
     * A scene that satisfies the spec and holds nothing else: exactly its objects (N copies for
     * counting), open colours drawn at random, random cells and jitter.
     */
    public static Scene sceneFor(PromptSpec spec, SplittableRandom r) {
        List<ObjectSpec> wanted = new ArrayList<>();
        if (spec.category() == Category.COUNTING) {
            for (int i = 0; i < spec.count(); i++) {
                wanted.add(spec.objects().get(0));
            }
        } else {
            wanted.addAll(spec.objects());
        }
        int[] cells = spec.relation() == null ? distinctCells(r, wanted.size()) : relatedCells(r, spec.relation());
        List<SceneObject> objects = new ArrayList<>();
        for (int i = 0; i < wanted.size(); i++) {
            ObjectSpec o = wanted.get(i);
            Colour c = o.colour() != null ? o.colour() : colour(r);
            objects.add(new SceneObject(o.shape(), c, cells[i] / GRID, cells[i] % GRID,
                    r.nextInt(MAX_JITTER + 1), r.nextInt(MAX_JITTER + 1)));
        }
        return new Scene(objects);
    }

    private static int[] distinctCells(SplittableRandom r, int n) {
        int[] all = new int[GRID * GRID];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        for (int i = 0; i < n; i++) { // partial Fisher-Yates
            int j = i + r.nextInt(all.length - i);
            int t = all[i];
            all[i] = all[j];
            all[j] = t;
        }
        return java.util.Arrays.copyOf(all, n);
    }

    /** Cells {a, b} with "a rel b" on the lattice; uniform over such pairs (rejection). */
    private static int[] relatedCells(SplittableRandom r, Relation rel) {
        while (true) {
            int[] c = distinctCells(r, 2);
            int drow = c[0] / GRID - c[1] / GRID;
            int dcol = c[0] % GRID - c[1] % GRID;
            if (rel.holds(dcol, drow)) {
                return c;
            }
        }
    }

    private static ShapeKind shape(SplittableRandom r) {
        return ShapeKind.values()[r.nextInt(ShapeKind.values().length)];
    }

    private static ShapeKind otherShape(SplittableRandom r, ShapeKind not) {
        ShapeKind s = ShapeKind.values()[r.nextInt(ShapeKind.values().length - 1)];
        return s.ordinal() >= not.ordinal() ? ShapeKind.values()[s.ordinal() + 1] : s;
    }

    private static Colour colour(SplittableRandom r) {
        return Colour.values()[r.nextInt(Colour.values().length)];
    }

    private static Relation relation(SplittableRandom r) {
        return Relation.values()[r.nextInt(Relation.values().length)];
    }
}
