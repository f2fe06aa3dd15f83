package fastflux.shapes;

/** A prompt with its category, as in a prompt file line {@code category<TAB>text}. */
public record Prompt(Category category, String text) {
    public Prompt {
        if (category == null || text == null) {
            throw new IllegalArgumentException("Prompt needs a category and text");
        }
    }

    /** A prompt of the grammar, its category read from the text. */
    public static Prompt of(String text) {
        return new Prompt(PromptGrammar.parse(text).category(), text);
    }

    public PromptSpec spec() {
        return PromptGrammar.parse(text);
    }
}
