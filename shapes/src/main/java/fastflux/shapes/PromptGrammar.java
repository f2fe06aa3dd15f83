package fastflux.shapes;

import java.util.List;

/**
 * The prompt grammar, lower case, words separated by spaces:
 *
 * <pre>
 *   single_object  a {shape}
 *   colors         a {color} {shape}
 *   two_object     a {shape} and a {shape}
 *   color_attr     a {color} {shape} and a {color} {shape}
 *   counting       {two|three|four} [{color}] {shape}s
 *   position       a [{color}] {shape} {left of|right of|above|below} a [{color}] {shape}
 * </pre>
 *
 * The bracketed colours are the richer training variants ("two red circles", "a red circle left of
 * a blue square"); they keep their category. Anything else is rejected, quoting the prompt.
 */
public final class PromptGrammar {
    static final List<String> NUMBERS = List.of("two", "three", "four");

    private PromptGrammar() {}

    public static PromptSpec parse(String prompt) {
        if (prompt == null) {
            throw new IllegalArgumentException("prompt is null");
        }
        String[] w = prompt.strip().split("\\s+");
        if (prompt.isBlank()) {
            throw fail(prompt, "it is empty");
        }
        int n = NUMBERS.indexOf(w[0]);
        if (n >= 0) {
            return parseCounting(prompt, w, n + 2);
        }
        Cursor cur = new Cursor(prompt, w);
        ObjectSpec a = cur.object();
        if (cur.done()) {
            return new PromptSpec(a.colour() == null ? Category.SINGLE_OBJECT : Category.COLORS, List.of(a), 0, null);
        }
        if (cur.peek().equals("and")) {
            cur.next();
            ObjectSpec b = cur.object();
            cur.end();
            if ((a.colour() == null) != (b.colour() == null)) {
                throw fail(prompt, "either both objects have a colour (color_attr) or neither (two_object)");
            }
            return new PromptSpec(a.colour() == null ? Category.TWO_OBJECT : Category.COLOR_ATTR, List.of(a, b), 0, null);
        }
        Relation rel = cur.relation();
        ObjectSpec b = cur.object();
        cur.end();
        return new PromptSpec(Category.POSITION, List.of(a, b), 0, rel);
    }

    private static PromptSpec parseCounting(String prompt, String[] w, int count) {
        if (w.length < 2 || w.length > 3) {
            throw fail(prompt, "a counting prompt is '{two|three|four} [{color}] {shape}s'");
        }
        Colour colour = null;
        if (w.length == 3) {
            colour = Colour.fromWord(w[1]);
            if (colour == null) {
                throw fail(prompt, "'" + w[1] + "' is not a colour");
            }
        }
        ShapeKind shape = ShapeKind.fromPlural(w[w.length - 1]);
        if (shape == null) {
            throw fail(prompt, "'" + w[w.length - 1] + "' is not a plural shape (circles, squares, triangles)");
        }
        return new PromptSpec(Category.COUNTING, List.of(new ObjectSpec(shape, colour)), count, null);
    }

    /**
     * True when the prompt has one of the evaluation forms exactly (no colour in counting or position prompts),
     * the forms the judge's prompt sets use; false for the richer training variants and for non-grammar text.
     */
    public static boolean isEvaluationForm(String prompt) {
        PromptSpec s;
        try {
            s = parse(prompt);
        } catch (IllegalArgumentException e) {
            return false;
        }
        return switch (s.category()) {
            case COUNTING, POSITION -> s.objects().stream().allMatch(o -> o.colour() == null);
            default -> true;
        };
    }

    /** The canonical text of a spec; {@code parse(format(s)).equals(s)}. */
    public static String format(PromptSpec s) {
        List<ObjectSpec> o = s.objects();
        return switch (s.category()) {
            case SINGLE_OBJECT, COLORS -> "a " + o.get(0).words();
            case TWO_OBJECT, COLOR_ATTR -> "a " + o.get(0).words() + " and a " + o.get(1).words();
            case COUNTING -> NUMBERS.get(s.count() - 2) + " " + o.get(0).pluralWords();
            case POSITION -> "a " + o.get(0).words() + " " + s.relation().phrase() + " a " + o.get(1).words();
        };
    }

    static IllegalArgumentException fail(String prompt, String why) {
        return new IllegalArgumentException("prompt '" + prompt + "' is outside the Shapes grammar: " + why);
    }

    /** Reads "a [colour] shape" phrases and relations off a word array. */
    private static final class Cursor {
        private final String prompt;
        private final String[] w;
        private int i;

        Cursor(String prompt, String[] w) {
            this.prompt = prompt;
            this.w = w;
        }

        boolean done() {
            return i >= w.length;
        }

        String peek() {
            return done() ? "" : w[i];
        }

        String next() {
            if (done()) {
                throw fail(prompt, "it ends too early");
            }
            return w[i++];
        }

        void end() {
            if (!done()) {
                throw fail(prompt, "unexpected words from '" + w[i] + "' on");
            }
        }

        ObjectSpec object() {
            String article = next();
            if (!article.equals("a")) {
                throw fail(prompt, "expected 'a' but found '" + article + "'");
            }
            String word = next();
            Colour colour = Colour.fromWord(word);
            if (colour != null) {
                word = next();
            }
            ShapeKind shape = ShapeKind.fromWord(word);
            if (shape == null) {
                throw fail(prompt, "'" + word + "' is not a shape (circle, square, triangle)"
                        + (colour == null ? " or a colour" : ""));
            }
            return new ObjectSpec(shape, colour);
        }

        Relation relation() {
            String first = next();
            Relation r = Relation.fromPhrase(first);
            if (r == null && (first.equals("left") || first.equals("right"))) {
                r = Relation.fromPhrase(first + " " + next());
            }
            if (r == null) {
                throw fail(prompt, "expected 'and', 'left of', 'right of', 'above' or 'below' near '" + first + "'");
            }
            return r;
        }
    }
}
