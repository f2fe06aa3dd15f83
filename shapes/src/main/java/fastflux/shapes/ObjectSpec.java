package fastflux.shapes;

/**
 * A required object: a shape, and a colour or null when the prompt leaves it open.
 */
public record ObjectSpec(ShapeKind shape, Colour colour) {
    public ObjectSpec {
        if (shape == null) {
            throw new IllegalArgumentException("ObjectSpec needs a shape");
        }
    }

    public boolean matches(Detection d) {
        return d.shape() == shape && (colour == null || d.colour() == colour);
    }

    /** "circle" or "red circle". */
    String words() {
        return colour == null ? shape.word() : colour.word() + " " + shape.word();
    }

    String pluralWords() {
        return colour == null ? shape.plural() : colour.word() + " " + shape.plural();
    }
}
