package fastflux.shapes;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A fixed word-level vocabulary over the Shapes grammar: id 0 is PAD, then every word the grammar
 * and the training prompts use. Ids are stable: new words may only be appended.
 */
public final class WordTokenizer {
    public static final int PAD = 0;

    /** Ids 1.. in this order. */
    public static final List<String> WORDS = List.of(
            "a", "and",
            "circle", "square", "triangle",
            "circles", "squares", "triangles",
            "red", "yellow", "green", "cyan", "blue", "magenta",
            "two", "three", "four",
            "left", "right", "of", "above", "below");

    /** The longest prompt the world generates: "a red circle left of a blue square". */
    public static final int MAX_WORDS = 8;

    private final Map<String, Integer> ids = new HashMap<>();

    public WordTokenizer() {
        for (int i = 0; i < WORDS.size(); i++) {
            ids.put(WORDS.get(i), i + 1);
        }
    }

    public int vocabSize() {
        return WORDS.size() + 1;
    }

    public int maxWords() {
        return MAX_WORDS;
    }

    /** Word ids padded with PAD to maxLen; "" gives all PAD (the unconditional prompt for CFG). */
    public int[] encode(String prompt, int maxLen) {
        if (prompt == null) {
            throw new IllegalArgumentException("prompt is null");
        }
        int[] out = new int[maxLen];
        if (prompt.isBlank()) {
            return out;
        }
        String[] words = prompt.strip().split("\\s+");
        List<String> unknown = new ArrayList<>();
        for (String w : words) {
            if (!ids.containsKey(w) && !unknown.contains(w)) {
                unknown.add(w);
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("prompt '" + prompt + "' has words outside the vocabulary: " + unknown);
        }
        if (words.length > maxLen) {
            throw new IllegalArgumentException("prompt '" + prompt + "' has " + words.length
                    + " words, more than maxLen " + maxLen);
        }
        for (int i = 0; i < words.length; i++) {
            out[i] = ids.get(words[i]);
        }
        return out;
    }

    /** The words of ids, PAD skipped. */
    public String decode(int[] tokens) {
        List<String> words = new ArrayList<>();
        for (int t : tokens) {
            if (t < 0 || t >= vocabSize()) {
                throw new IllegalArgumentException("token id " + t + " outside 0.." + (vocabSize() - 1));
            }
            if (t != PAD) {
                words.add(WORDS.get(t - 1));
            }
        }
        return String.join(" ", words);
    }

    public List<String> vocabulary() {
        return Collections.unmodifiableList(WORDS);
    }
}
