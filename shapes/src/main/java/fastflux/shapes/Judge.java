package fastflux.shapes;

import java.util.ArrayList;
import java.util.List;

/**
 * A deterministic GenEval-style judge for Shapes images; no neural net.
 *
 * <p>Detection: each pixel bright and saturated enough (value >= {@value #MIN_VALUE}, saturation >=
 * {@value #MIN_SATURATION}) takes the palette colour nearest in hue (palette hues are 60 degrees
 * apart, so any hue within +-30 degrees counts: blurry, off-colour samples still classify). Pixels of
 * one colour form 4-connected components; touching same-coloured shapes are therefore one object.
 * Components under {@value #MIN_AREA} pixels are noise (objects cover 24 to 36). The shape comes from
 * geometry, independent of scale: a component whose top third rows are much narrower than its bottom
 * third ({@value #TRIANGLE_TAPER}) is a triangle; otherwise a full bounding box (fill >=
 * {@value #SQUARE_FILL}) is a square, else a circle. Blobs implausible as any object (fill under
 * {@value #MIN_FILL}, or very elongated) are dropped, which keeps random noise from scoring.
 *
 * <p>Scoring follows GenEval per category; see {@link #correct(PromptSpec, List)}.
 */
public final class Judge {
    public static final double MIN_VALUE = 0.35;
    public static final double MIN_SATURATION = 0.4;
    public static final int MIN_AREA = 8;
    public static final double MIN_FILL = 0.4;
    public static final double MAX_ASPECT = 3.0;
    public static final double TRIANGLE_TAPER = 0.6;
    public static final double SQUARE_FILL = 0.8;

    private static final int S = Image.SIZE;

    private Judge() {}

    /** Whether the image satisfies the prompt. */
    public static boolean correct(String prompt, Image image) {
        return correct(PromptGrammar.parse(prompt), detect(image));
    }

    /**
     * GenEval's rules: single_object / two_object: the named shapes are present (two distinct
     * detections for two objects); colors: the shape is present in that colour; counting: exactly N
     * detections of that shape (and colour, if named); color_attr: both present, each in its colour;
     * position: some pair of matching detections stands in the relation by centroids.
     */
    public static boolean correct(PromptSpec spec, List<Detection> detections) {
        List<ObjectSpec> o = spec.objects();
        return switch (spec.category()) {
            case SINGLE_OBJECT, COLORS -> detections.stream().anyMatch(o.get(0)::matches);
            case COUNTING -> detections.stream().filter(o.get(0)::matches).count() == spec.count();
            case TWO_OBJECT, COLOR_ATTR -> anyPair(o.get(0), o.get(1), null, detections);
            case POSITION -> anyPair(o.get(0), o.get(1), spec.relation(), detections);
        };
    }

    private static boolean anyPair(ObjectSpec a, ObjectSpec b, Relation rel, List<Detection> ds) {
        for (int i = 0; i < ds.size(); i++) {
            Detection da = ds.get(i);
            if (!a.matches(da)) {
                continue;
            }
            for (int j = 0; j < ds.size(); j++) {
                Detection db = ds.get(j);
                if (i != j && b.matches(db) && (rel == null || rel.holds(da.cx() - db.cx(), da.cy() - db.cy()))) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The palette colour of a pixel, or null for background (too dark or too grey). */
    public static Colour classifyPixel(float r, float g, float b) {
        float max = Math.max(r, Math.max(g, b));
        float min = Math.min(r, Math.min(g, b));
        if (max < MIN_VALUE || max <= 0 || (max - min) / max < MIN_SATURATION) {
            return null;
        }
        double d = max - min;
        double hue;
        if (max == r) {
            hue = 60 * (((g - b) / d) % 6);
        } else if (max == g) {
            hue = 60 * ((b - r) / d + 2);
        } else {
            hue = 60 * ((r - g) / d + 4);
        }
        return Colour.nearestHue(hue);
    }

    /** Colour ordinal per pixel (y * 32 + x), -1 for background. */
    static int[] colourMap(Image image) {
        int[] label = new int[S * S];
        for (int p = 0; p < S * S; p++) {
            Colour c = classifyPixel(image.rgb()[p * 3], image.rgb()[p * 3 + 1], image.rgb()[p * 3 + 2]);
            label[p] = c == null ? -1 : c.ordinal();
        }
        return label;
    }

    /** All objects found in the image, in raster order of their first pixel. */
    public static List<Detection> detect(Image image) {
        int[] colour = colourMap(image);
        boolean[] seen = new boolean[S * S];
        int[] stack = new int[S * S];
        int[] members = new int[S * S];
        List<Detection> out = new ArrayList<>();
        for (int start = 0; start < S * S; start++) {
            if (colour[start] < 0 || seen[start]) {
                continue;
            }
            int c = colour[start];
            int n = 0;
            int top = 0;
            stack[top++] = start;
            seen[start] = true;
            while (top > 0) {
                int p = stack[--top];
                members[n++] = p;
                int x = p % S;
                int y = p / S;
                if (x > 0) top = push(p - 1, c, colour, seen, stack, top);
                if (x < S - 1) top = push(p + 1, c, colour, seen, stack, top);
                if (y > 0) top = push(p - S, c, colour, seen, stack, top);
                if (y < S - 1) top = push(p + S, c, colour, seen, stack, top);
            }
            if (n >= MIN_AREA) {
                Detection d = describe(members, n, Colour.values()[c]);
                if (d != null) {
                    out.add(d);
                }
            }
        }
        return out;
    }

    private static int push(int q, int c, int[] colour, boolean[] seen, int[] stack, int top) {
        if (!seen[q] && colour[q] == c) {
            seen[q] = true;
            stack[top++] = q;
        }
        return top;
    }

    /** Shape and centroid of one component, or null when it is implausible as an object. */
    private static Detection describe(int[] members, int n, Colour colour) {
        int minX = S, minY = S, maxX = -1, maxY = -1;
        double sx = 0, sy = 0;
        for (int i = 0; i < n; i++) {
            int x = members[i] % S;
            int y = members[i] / S;
            minX = Math.min(minX, x);
            maxX = Math.max(maxX, x);
            minY = Math.min(minY, y);
            maxY = Math.max(maxY, y);
            sx += x + 0.5;
            sy += y + 0.5;
        }
        int w = maxX - minX + 1;
        int h = maxY - minY + 1;
        double fill = (double) n / (w * h);
        if (w < 3 || h < 3 || (double) Math.max(w, h) / Math.min(w, h) > MAX_ASPECT || fill < MIN_FILL) {
            return null;
        }
        int[] rowWidth = new int[h];
        for (int i = 0; i < n; i++) {
            rowWidth[members[i] / S - minY]++;
        }
        int k = Math.max(1, h / 3);
        double topWidth = 0;
        double bottomWidth = 0;
        for (int i = 0; i < k; i++) {
            topWidth += rowWidth[i];
            bottomWidth += rowWidth[h - 1 - i];
        }
        ShapeKind shape;
        if (topWidth < TRIANGLE_TAPER * bottomWidth) {
            shape = ShapeKind.TRIANGLE;
        } else if (fill >= SQUARE_FILL) {
            shape = ShapeKind.SQUARE;
        } else {
            shape = ShapeKind.CIRCLE;
        }
        return new Detection(shape, colour, sx / n, sy / n, n);
    }
}
