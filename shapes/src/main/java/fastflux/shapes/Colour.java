package fastflux.shapes;

/** The palette: pure saturated colours, 60 degrees of hue apart. */
public enum Colour {
    RED("red", 1, 0, 0, 0),
    YELLOW("yellow", 1, 1, 0, 60),
    GREEN("green", 0, 1, 0, 120),
    CYAN("cyan", 0, 1, 1, 180),
    BLUE("blue", 0, 0, 1, 240),
    MAGENTA("magenta", 1, 0, 1, 300);

    private final String word;
    private final float r;
    private final float g;
    private final float b;
    private final int hue;

    Colour(String word, float r, float g, float b, int hue) {
        this.word = word;
        this.r = r;
        this.g = g;
        this.b = b;
        this.hue = hue;
    }

    public String word() {
        return word;
    }

    public float r() {
        return r;
    }

    public float g() {
        return g;
    }

    public float b() {
        return b;
    }

    /** Hue in degrees, [0, 360). */
    public int hue() {
        return hue;
    }

    /** The colour named by a word, or null. */
    public static Colour fromWord(String w) {
        for (Colour c : values()) {
            if (c.word.equals(w)) {
                return c;
            }
        }
        return null;
    }

    /** The palette colour nearest in hue (ordinal order is hue order, 60 degrees apart). */
    public static Colour nearestHue(double hueDegrees) {
        double h = ((hueDegrees % 360) + 360) % 360;
        return values()[(int) Math.round(h / 60.0) % 6];
    }
}
