package fastflux.shapes;

/**
 * A spatial relation "A rel B" on centroids, GenEval's rule: with dx = xA - xB and dy = yA - yB
 * (image coordinates, y down), "left of" is dx < 0 and |dx| > |dy|; the others likewise.
 * An exact diagonal (|dx| == |dy|) is no relation.
 */
public enum Relation {
    LEFT_OF("left of"),
    RIGHT_OF("right of"),
    ABOVE("above"),
    BELOW("below");

    private final String phrase;

    Relation(String phrase) {
        this.phrase = phrase;
    }

    public String phrase() {
        return phrase;
    }

    /** Whether A (at offset dx, dy from B) stands in this relation to B. */
    public boolean holds(double dx, double dy) {
        return switch (this) {
            case LEFT_OF -> dx < 0 && Math.abs(dx) > Math.abs(dy);
            case RIGHT_OF -> dx > 0 && Math.abs(dx) > Math.abs(dy);
            case ABOVE -> dy < 0 && Math.abs(dy) > Math.abs(dx);
            case BELOW -> dy > 0 && Math.abs(dy) > Math.abs(dx);
        };
    }

    /** The relation named by a phrase ("left of", "above", ...), or null. */
    public static Relation fromPhrase(String p) {
        for (Relation r : values()) {
            if (r.phrase.equals(p)) {
                return r;
            }
        }
        return null;
    }
}
