package fastflux.shapes;

import com.google.gson.JsonObject;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * How closely a model's images follow a reference model's drawn from the same prompts and noise seeds: the
 * pixel mean squared error of each image pair (values in [0, 1]), averaged over all pairs and per category, the
 * PSNR of that mean, and the share of pairs that are the same picture (MSE below {@link #SAME}).
 *
 * <p>Why beside the judge: pruning aims to change the model's function as little as possible. Where the
 * reference itself fails a prompt (the embedded model leaves most colour-free single objects empty), a pruned
 * model that drifts from it can score higher with the judge while being less faithful; fidelity measures the
 * drift itself.
 */
public record Fidelity(double mse, double psnrDb, double same, Map<Category, Double> categories, int images) {
    /** Pixel MSE below which a pair counts as the same picture: an RMS difference under 0.045 of the range. */
    public static final double SAME = 0.002;

    /**
     * Compares image lists made as {@link Evaluation#run} makes them: {@code seeds} images per prompt, prompt by
     * prompt, the same order in both.
     */
    public static Fidelity of(List<Prompt> prompts, int seeds, List<Image> reference, List<Image> images) {
        int n = prompts.size() * seeds;
        if (reference.size() != n || images.size() != n) {
            throw new IllegalArgumentException("fidelity needs " + n + " images from each model (" + prompts.size()
                    + " prompts x " + seeds + " seeds), got " + reference.size() + " reference and " + images.size());
        }
        double total = 0;
        int same = 0;
        Map<Category, double[]> sums = new EnumMap<>(Category.class);
        for (int i = 0; i < n; i++) {
            double e = mse(reference.get(i), images.get(i));
            total += e;
            if (e < SAME) same++;
            double[] s = sums.computeIfAbsent(prompts.get(i / seeds).category(), c -> new double[2]);
            s[0] += e;
            s[1]++;
        }
        Map<Category, Double> cats = new EnumMap<>(Category.class);
        sums.forEach((c, s) -> cats.put(c, s[0] / s[1]));
        double mean = total / n;
        return new Fidelity(mean, psnr(mean), (double) same / n, cats, n);
    }

    /** Mean squared difference of two images over all pixels and channels. */
    public static double mse(Image a, Image b) {
        float[] x = a.rgb();
        float[] y = b.rgb();
        double s = 0;
        for (int i = 0; i < x.length; i++) {
            double d = x[i] - y[i];
            s += d * d;
        }
        return s / x.length;
    }

    /** 10·log10(1 / mse), infinite for identical images. */
    static double psnr(double mse) {
        return mse == 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(1 / mse);
    }

    /** {"mse": .., "psnr_db": .., "same": .., "categories": {"single_object": .., ...}, "images": n}. */
    public JsonObject toJson(String reference) {
        JsonObject o = new JsonObject();
        o.addProperty("reference", reference);
        o.addProperty("mse", mse);
        o.addProperty("psnr_db", Double.isInfinite(psnrDb) ? null : psnrDb);
        o.addProperty("same", same);
        o.addProperty("same_threshold", SAME);
        JsonObject c = new JsonObject();
        categories.forEach((k, v) -> c.addProperty(k.key(), v));
        o.add("categories", c);
        o.addProperty("images", images);
        return o;
    }
}
