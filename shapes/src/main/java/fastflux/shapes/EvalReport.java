package fastflux.shapes;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * GenEval-style scores accumulated per image: each category's score is the fraction of its images
 * judged correct; {@code overall} is the mean of the category scores present (a category without
 * images is null and left out of the mean), as GenEval reports it. Images judged with their prompt
 * are also tallied per prompt, so a report says which prompts a model fails.
 */
public final class EvalReport {
    private final int[] correct = new int[Category.values().length];
    private final int[] total = new int[Category.values().length];
    /** Per prompt (category and text), in the order first judged: {correct, images}. */
    private final Map<Prompt, int[]> perPrompt = new LinkedHashMap<>();
    private Double fd;

    /** Judges one generated image for its prompt, records and returns the verdict. */
    public boolean add(Prompt prompt, Image image) {
        boolean ok = Judge.correct(prompt.text(), image);
        add(prompt, ok);
        return ok;
    }

    /** Records a verdict on an image of {@code prompt}. */
    public void add(Prompt prompt, boolean isCorrect) {
        add(prompt.category(), isCorrect);
        int[] t = perPrompt.computeIfAbsent(prompt, p -> new int[2]);
        if (isCorrect) t[0]++;
        t[1]++;
    }

    public void add(Category category, boolean isCorrect) {
        total[category.ordinal()]++;
        if (isCorrect) {
            correct[category.ordinal()]++;
        }
    }

    public void setFd(double fd) {
        this.fd = fd;
    }

    /** The FD, or null when not set. */
    public Double fd() {
        return fd;
    }

    /** A category's score in [0, 1], or null when it has no images. */
    public Double score(Category category) {
        int t = total[category.ordinal()];
        return t == 0 ? null : (double) correct[category.ordinal()] / t;
    }

    /** Mean of the present category scores, or null when there are none. */
    public Double overall() {
        double sum = 0;
        int n = 0;
        for (Category c : Category.values()) {
            Double s = score(c);
            if (s != null) {
                sum += s;
                n++;
            }
        }
        return n == 0 ? null : sum / n;
    }

    public int images() {
        int n = 0;
        for (int t : total) {
            n += t;
        }
        return n;
    }

    public JsonObject toJsonObject() {
        JsonObject root = new JsonObject();
        root.add("overall", number(overall()));
        JsonObject cats = new JsonObject();
        for (Category c : Category.values()) {
            cats.add(c.key(), number(score(c)));
        }
        root.add("categories", cats);
        root.add("fd", number(fd));
        root.addProperty("images", images());
        if (!perPrompt.isEmpty()) {
            JsonArray prompts = new JsonArray();
            perPrompt.forEach((p, t) -> {
                JsonObject o = new JsonObject();
                o.addProperty("category", p.category().key());
                o.addProperty("prompt", p.text());
                o.addProperty("correct", t[0]);
                o.addProperty("images", t[1]);
                prompts.add(o);
            });
            root.add("prompts", prompts);
        }
        return root;
    }

    /**
     * {"overall": x, "categories": {"single_object": .., ...}, "fd": .., "images": n, "prompts": [{"category", "prompt",
     * "correct", "images"}, ...]}; nulls kept, "prompts" only when images were judged with their prompts.
     */
    public String toJson() {
        return new GsonBuilder().serializeNulls().setPrettyPrinting().create().toJson(toJsonObject());
    }

    private static com.google.gson.JsonElement number(Double d) {
        return d == null ? JsonNull.INSTANCE : new JsonPrimitive(d);
    }
}
