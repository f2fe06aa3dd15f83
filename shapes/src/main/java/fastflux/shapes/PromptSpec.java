package fastflux.shapes;

import java.util.List;

/**
 * What a prompt asks for.
 *
 * @param category the GenEval category
 * @param objects required objects: one for single_object, colors and counting; two (A then B) for
 *     two_object, color_attr and position
 * @param count the exact number N for counting prompts; 0 for other categories
 * @param relation the relation "A rel B" for position prompts; null otherwise
 */
public record PromptSpec(Category category, List<ObjectSpec> objects, int count, Relation relation) {
    public PromptSpec {
        objects = List.copyOf(objects);
        int want = switch (category) {
            case SINGLE_OBJECT, COLORS, COUNTING -> 1;
            case TWO_OBJECT, COLOR_ATTR, POSITION -> 2;
        };
        if (objects.size() != want) {
            throw new IllegalArgumentException(category.key() + " needs " + want + " objects, got " + objects);
        }
        if ((category == Category.COUNTING) != (count >= 2 && count <= ShapesWorld.MAX_OBJECTS)) {
            throw new IllegalArgumentException("count " + count + " is invalid for " + category.key());
        }
        if ((category == Category.POSITION) != (relation != null)) {
            throw new IllegalArgumentException("relation " + relation + " is invalid for " + category.key());
        }
    }

    /** The prompt text in the grammar's canonical form. */
    public String text() {
        return PromptGrammar.format(this);
    }
}
