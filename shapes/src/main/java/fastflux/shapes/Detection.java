package fastflux.shapes;

/**
 * An object the judge found: its shape and colour, centroid in pixel coordinates (x right, y down,
 * pixel centres at +0.5), and area in pixels.
 */
public record Detection(ShapeKind shape, Colour colour, double cx, double cy, int area) {}
