package fastflux.shapes;

/** The six GenEval task categories, with the keys used in prompt files and reports. */
public enum Category {
    SINGLE_OBJECT("single_object"),
    TWO_OBJECT("two_object"),
    COUNTING("counting"),
    COLORS("colors"),
    POSITION("position"),
    COLOR_ATTR("color_attr");

    private final String key;

    Category(String key) {
        this.key = key;
    }

    public String key() {
        return key;
    }

    /** Every category's key, comma-separated, for messages. */
    public static String keys() {
        return String.join(", ", java.util.Arrays.stream(values()).map(Category::key).toList());
    }

    /** The category with this key, or null. */
    public static Category fromKey(String key) {
        for (Category c : values()) {
            if (c.key.equals(key)) {
                return c;
            }
        }
        return null;
    }
}
