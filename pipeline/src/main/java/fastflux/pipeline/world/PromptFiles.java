package fastflux.pipeline.world;

import fastflux.model.io.IoErrors;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Prompt files of a FLUX.1 world: UTF-8, one prompt a line, or {@code category<TAB>prompt}. Every line is checked and a
 * bad one is named by file and line: an empty prompt, a control character, more than {@value #MAX_CHARS} characters, or
 * more than one tab. (Whether a prompt fits T5's {@code --max-sequence-length} is checked by {@link FluxWorld} with
 * the model's tokenizer.)
 */
public final class PromptFiles {
    /** Longer than any prompt a text encoder reads in full (T5 at 512 tokens is some 2,000 characters of English). */
    public static final int MAX_CHARS = 4000;

    private PromptFiles() {}

    /** A prompt with where it came from. */
    public record Prompt(String category, String text, String source, int line) {
        /** {@code file:line}, as errors name it. */
        public String where() {
            return source + ":" + line;
        }
    }

    /** The prompts of {@code file}; duplicates are kept (callers that need distinct texts drop them). */
    public static List<Prompt> read(Path file) throws IOException {
        List<String> lines;
        try {
            String all = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(file))).toString();
            lines = List.of(all.split("\r?\n", -1));
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(file + " is not UTF-8 text");
        } catch (IOException e) {
            throw new IOException("cannot read prompts " + file + ": " + IoErrors.describe(e), e);
        }
        // a final newline ends the last line; it does not start an empty one
        int n = lines.size();
        if (n > 0 && lines.get(n - 1).isEmpty()) n--;
        List<Prompt> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) out.add(parse(lines.get(i), file.toString(), i + 1));
        if (out.isEmpty()) throw new IllegalArgumentException(file + " holds no prompts");
        return out;
    }

    /** One line: {@code prompt} or {@code category<TAB>prompt}, checked. */
    public static Prompt parse(String line, String source, int lineNo) {
        String where = source + ":" + lineNo;
        String category = "";
        String text = line;
        int tab = line.indexOf('\t');
        if (tab >= 0) {
            if (line.indexOf('\t', tab + 1) >= 0) {
                throw new IllegalArgumentException(where + ": more than one tab; a line is a prompt or category<TAB>prompt");
            }
            category = line.substring(0, tab).strip();
            text = line.substring(tab + 1);
        }
        text = text.strip();
        if (text.isEmpty()) throw new IllegalArgumentException(where + ": empty prompt");
        if (text.length() > MAX_CHARS) {
            throw new IllegalArgumentException(where + ": the prompt has " + text.length() + " characters, more than "
                    + MAX_CHARS);
        }
        for (int k = 0; k < line.length(); k++) {
            char c = line.charAt(k);
            if (c != '\t' && (Character.isISOControl(c) || c == '\u2028' || c == '\u2029')) {
                throw new IllegalArgumentException(where + ": control character U+" + String.format("%04X", (int) c)
                        + " at column " + (k + 1));
            }
        }
        return new Prompt(category, text, source, lineNo);
    }

    /** The distinct texts of {@code prompts}, in their first order. */
    public static List<String> distinctTexts(List<Prompt> prompts) {
        java.util.LinkedHashSet<String> set = new java.util.LinkedHashSet<>();
        for (Prompt p : prompts) set.add(p.text());
        return List.copyOf(set);
    }
}
