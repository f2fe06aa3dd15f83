package fastflux.shapes;

/** The three shapes of the world, with the words the grammar uses for them. */
public enum ShapeKind {
    CIRCLE("circle"),
    SQUARE("square"),
    TRIANGLE("triangle");

    private final String word;

    ShapeKind(String word) {
        this.word = word;
    }

    public String word() {
        return word;
    }

    public String plural() {
        return word + "s";
    }

    /** The shape named by a singular word, or null. */
    public static ShapeKind fromWord(String w) {
        for (ShapeKind s : values()) {
            if (s.word.equals(w)) {
                return s;
            }
        }
        return null;
    }

    /** The shape named by a plural word, or null. */
    public static ShapeKind fromPlural(String w) {
        for (ShapeKind s : values()) {
            if (s.plural().equals(w)) {
                return s;
            }
        }
        return null;
    }
}
