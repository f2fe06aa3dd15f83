package fastflux.shapes;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** 1 to 4 objects, each in its own lattice cell. */
public record Scene(List<SceneObject> objects) {
    public Scene {
        objects = List.copyOf(objects);
        if (objects.isEmpty() || objects.size() > ShapesWorld.MAX_OBJECTS) {
            throw new IllegalArgumentException(
                    "a scene holds 1.." + ShapesWorld.MAX_OBJECTS + " objects, got " + objects.size());
        }
        Set<Integer> cells = new HashSet<>();
        for (SceneObject o : objects) {
            if (!cells.add(o.cellRow() * ShapesWorld.GRID + o.cellCol())) {
                throw new IllegalArgumentException(
                        "two objects share cell (" + o.cellRow() + ", " + o.cellCol() + "): " + objects);
            }
        }
    }

    public static Scene of(SceneObject... objects) {
        return new Scene(List.of(objects));
    }
}
