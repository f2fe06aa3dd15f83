package fastflux.shapes;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Prompt files: one {@code category<TAB>prompt} per line. Skipped: blank lines, lines starting with {@code #}, a
 * byte-order mark, and a header line {@code category<TAB>prompt} before the first prompt.
 */
public final class PromptFile {
    private PromptFile() {}

    /**
     * @throws IllegalArgumentException naming file:line for a malformed line, an unknown category, a
     *     prompt outside the grammar, or a prompt whose parsed category differs from its column; naming the
     *     file when it holds no prompt. The message never quotes the file's content: a daemon passes it to
     *     remote clients, and the file may not be theirs.
     */
    public static List<Prompt> read(Path file) throws IOException {
        return parse(Files.readAllLines(file, StandardCharsets.UTF_8), file.toString());
    }

    /** The dev prompt set (66 prompts over GenEval's six categories), shipped in this module's resources. */
    public static List<Prompt> dev() {
        try (var in = PromptFile.class.getResourceAsStream(DEV_RESOURCE)) {
            if (in == null) throw new IllegalStateException("the dev prompt set " + DEV_RESOURCE + " is not on the classpath");
            return parse(new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList(), DEV_NAME);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The dev set's name in reports. */
    public static final String DEV_NAME = "shapes-prompts-dev.tsv";

    private static final String DEV_RESOURCE = "/" + DEV_NAME;

    private static List<Prompt> parse(List<String> lines, String file) {
        List<Prompt> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (i == 0 && line.startsWith("\uFEFF")) line = line.substring(1);
            line = line.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            if (out.isEmpty() && line.matches("(?i)category\\s*\t\\s*prompt")) {
                continue; // a header
            }
            String where = file + ":" + (i + 1) + ": ";
            String[] cols = line.split("\t", -1);
            if (cols.length != 2) {
                throw new IllegalArgumentException(where + "expected 'category<TAB>prompt', found " + cols.length
                        + (cols.length == 1 ? " column" : " columns"));
            }
            Category category = Category.fromKey(cols[0].strip());
            if (category == null) {
                throw new IllegalArgumentException(where + "unknown category (known: " + Category.keys() + ")");
            }
            String text = cols[1].strip();
            PromptSpec spec;
            try {
                spec = PromptGrammar.parse(text);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + "the prompt is outside the Shapes grammar", e);
            }
            if (spec.category() != category) {
                throw new IllegalArgumentException(where + "the prompt is " + spec.category().key() + ", not " + category.key());
            }
            out.add(new Prompt(category, text));
        }
        if (out.isEmpty()) throw new IllegalArgumentException(file + ": no prompts (expected 'category<TAB>prompt' lines)");
        return out;
    }
}
