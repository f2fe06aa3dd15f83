package fastflux.shapes;

/** A training example: a scene and a prompt it satisfies. */
public record Example(Scene scene, String prompt) {
    public Image image() {
        return ShapesWorld.render(scene);
    }
}
