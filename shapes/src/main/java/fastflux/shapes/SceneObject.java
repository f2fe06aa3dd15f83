package fastflux.shapes;

/**
 * One object of a scene: a shape of a colour in a lattice cell, shifted by a small jitter.
 *
 * @param cellRow lattice row, 0..3 (top to bottom)
 * @param cellCol lattice column, 0..3 (left to right)
 * @param jx horizontal jitter in pixels, 0..{@link ShapesWorld#MAX_JITTER}
 * @param jy vertical jitter in pixels, 0..{@link ShapesWorld#MAX_JITTER}
 */
public record SceneObject(ShapeKind shape, Colour colour, int cellRow, int cellCol, int jx, int jy) {
    public SceneObject {
        if (shape == null || colour == null) {
            throw new IllegalArgumentException("SceneObject needs a shape and a colour");
        }
        if (cellRow < 0 || cellRow >= ShapesWorld.GRID || cellCol < 0 || cellCol >= ShapesWorld.GRID) {
            throw new IllegalArgumentException("cell (" + cellRow + ", " + cellCol + ") outside the 4x4 lattice");
        }
        if (jx < 0 || jx > ShapesWorld.MAX_JITTER || jy < 0 || jy > ShapesWorld.MAX_JITTER) {
            throw new IllegalArgumentException(
                    "jitter (" + jx + ", " + jy + ") outside 0.." + ShapesWorld.MAX_JITTER);
        }
    }

    /** Left pixel column of the object's bounding box. */
    public int x0() {
        return cellCol * ShapesWorld.CELL + jx;
    }

    /** Top pixel row of the object's bounding box. */
    public int y0() {
        return cellRow * ShapesWorld.CELL + jy;
    }
}
