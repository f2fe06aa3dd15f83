package fastflux.shapes;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

/**
 * GenEval-style scores accumulated per image: each category's score is the fraction of its images
 * judged correct; {@code overall} is the mean of the category scores present (a category without
 * images is null and left out of the mean), as GenEval reports it.
 */
public final class EvalReport {
    private final int[] correct = new int[Category.values().length];
    private final int[] total = new int[Category.values().length];
    private Double fd;

    /** Judges one generated image for its prompt, records and returns the verdict. */
    public boolean add(Prompt prompt, Image image) {
        boolean ok = Judge.correct(prompt.text(), image);
        add(prompt.category(), ok);
        return ok;
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
        return root;
    }

    /** {"overall": x, "categories": {"single_object": .., ...}, "fd": .., "images": n}; nulls kept. */
    public String toJson() {
        return new GsonBuilder().serializeNulls().setPrettyPrinting().create().toJson(toJsonObject());
    }

    private static com.google.gson.JsonElement number(Double d) {
        return d == null ? JsonNull.INSTANCE : new JsonPrimitive(d);
    }
}
