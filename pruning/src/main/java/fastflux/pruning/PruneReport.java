package fastflux.pruning;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Map;

/** {@code report.json} and {@code report.md} of a pruning run: what was replaced, how well, how fast. */
public final class PruneReport {
    private PruneReport() {}

    public static void write(Path dir, JsonObject report) {
        try {
            Files.createDirectories(dir);
            atomic(dir.resolve("report.json"), new GsonBuilder().setPrettyPrinting().serializeNulls().create()
                    .toJson(finite(report)));
            atomic(dir.resolve("report.md"), markdown(report));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write report to " + dir, e);
        }
        for (JsonElement e : report.getAsJsonArray("blocks")) {
            JsonObject b = e.getAsJsonObject();
            if (hasCurves(b)) Charts.writePng(sandwichChart(b), Charts.WIDTH, Charts.HEIGHT, dir.resolve(curvesFile(b)));
        }
    }

    /** Where a block's sandwich-training chart goes, relative to the report. */
    static String curvesFile(JsonObject block) {
        return "sandwich-curves/" + block.get("block").getAsString() + ".png";
    }

    /** Whether a block of the report was sandwich-trained for at least one step (its losses are its chart). */
    static boolean hasCurves(JsonObject block) {
        JsonObject t = block.getAsJsonObject("training");
        return t != null && t.has("losses") && t.getAsJsonArray("losses").size() > 0;
    }

    /**
     * A block's sandwich training as a chart: minibatch losses, the loss over all training pairs at both ends, and
     * the held-out curve (a report without one, but with held-out losses before and after, draws those two).
     */
    static org.jfree.chart.JFreeChart sandwichChart(JsonObject block) {
        JsonObject t = block.getAsJsonObject("training");
        double[] losses = doubles(t.getAsJsonArray("losses"));
        int[] steps = new int[0];
        double[] held = new double[0];
        if (t.has("held_out_steps")) {
            JsonArray a = t.getAsJsonArray("held_out_steps");
            steps = new int[a.size()];
            for (int i = 0; i < steps.length; i++) steps[i] = a.get(i).getAsInt();
            held = doubles(t.getAsJsonArray("held_out_losses"));
        } else if (t.has("held_out_pairs") && t.get("held_out_pairs").getAsLong() > 0) {
            steps = new int[] {0, losses.length};
            held = new double[] {num(t.get("held_out_initial_loss")), num(t.get("held_out_final_loss"))};
        }
        String name = block.get("block").getAsString();
        String sub = String.format(Locale.ROOT, "%s → %s, %s training pairs%s",
                t.get("up").isJsonNull() ? "input" : t.get("up").getAsString(),
                t.get("down").isJsonNull() ? "output" : t.get("down").getAsString(),
                t.has("pairs") ? t.get("pairs").getAsString() : "?",
                t.has("held_out_pairs") && t.get("held_out_pairs").getAsLong() > 0
                        ? ", " + t.get("held_out_pairs").getAsString() + " held-out pairs" : "");
        return Charts.sandwichCurves("Sandwich training of " + name, sub, losses,
                new double[] {num(t.get("initial_loss")), num(t.get("final_loss"))}, steps, held);
    }

    private static double[] doubles(JsonArray a) {
        double[] v = new double[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = num(a.get(i));
        return v;
    }

    // NaN for an absent or null number (what nothing measured gives once written as JSON)
    private static double num(JsonElement e) {
        return e == null || e.isJsonNull() ? Double.NaN : e.getAsDouble();
    }

    /**
     * A copy in which every NaN or infinite number is {@code null}: JSON has no such numbers, and a strict
     * reader (jq, a browser) refuses a file that holds them. NaN is what nothing measured gives (no held-out
     * calibration batch for a residual, say); the markdown writes it as "n/a".
     */
    static JsonElement finite(JsonElement e) {
        if (e.isJsonObject()) {
            JsonObject o = new JsonObject();
            e.getAsJsonObject().entrySet().forEach(x -> o.add(x.getKey(), finite(x.getValue())));
            return o;
        }
        if (e.isJsonArray()) {
            JsonArray a = new JsonArray();
            e.getAsJsonArray().forEach(x -> a.add(finite(x)));
            return a;
        }
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber() && !Double.isFinite(e.getAsDouble())) {
            return com.google.gson.JsonNull.INSTANCE;
        }
        return e;
    }

    private static void atomic(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    static String markdown(JsonObject r) {
        StringBuilder md = new StringBuilder();
        JsonObject o = r.getAsJsonObject("options");
        md.append("# FastFLUX pruning report\n\n");
        md.append(String.format(Locale.ROOT, "Base model `%s`, pruned model `%s`.%n%n", str(r, "base"), str(r, "out")));
        md.append(String.format(Locale.ROOT, "**%d of %d blocks replaced** (ratio %s, mode %s, order %s, importance %s, sandwich %s).%n%n",
                r.get("replaced_count").getAsInt(), r.get("block_count").getAsInt(), o.get("ratio"), str(o, "mode"),
                str(o, "order"), str(o, "importance"), o.get(PruneOptions.SANDWICH_TRAINING.name()).getAsBoolean()
                        ? "width " + o.get(PruneOptions.SANDWICH.name()) : "off (--no-sandwich-training)"));
        md.append("## Order\n\n");
        JsonArray order = r.getAsJsonArray("order");
        StringBuilder ord = new StringBuilder();
        for (int i = 0; i < order.size(); i++) ord.append(i == 0 ? "" : ", ").append(i < r.get("replaced_count").getAsInt() ? "**" + order.get(i).getAsString() + "**" : order.get(i).getAsString());
        md.append(ord).append("\n\n(bold: replaced; `importance.json` / `importance.png` hold the scores when ordered by importance)\n\n");
        md.append("## Replaced blocks\n\n| block | residual ‖F − X̃W‖/‖F‖ | sandwich (u → d) | ST loss first → last | held-out prompts first → last |\n|---|---|---|---|---|\n");
        for (JsonElement e : r.getAsJsonArray("blocks")) {
            JsonObject b = e.getAsJsonObject();
            StringBuilder res = new StringBuilder();
            for (Map.Entry<String, JsonElement> x : b.getAsJsonObject("residuals").entrySet()) {
                res.append(res.length() == 0 ? "" : ", ").append(x.getKey()).append(' ').append(fmt(x.getValue()));
            }
            String st = "-", loss = "-", held = "-";
            if (b.has("training")) {
                JsonObject t = b.getAsJsonObject("training");
                st = (t.get("up").isJsonNull() ? "input" : t.get("up").getAsString()) + " → " + (t.get("down").isJsonNull() ? "output" : t.get("down").getAsString());
                loss = String.format(Locale.ROOT, "%.5f → %.5f", t.get("initial_loss").getAsDouble(), t.get("final_loss").getAsDouble());
                if (t.has("held_out_pairs")) {
                    held = fmt5(t.get("held_out_initial_loss")) + " → " + fmt5(t.get("held_out_final_loss"));
                }
            }
            md.append(String.format("| %s | %s | %s | %s | %s |%n", b.get("block").getAsString(),
                    res.length() == 0 ? "- (deleted)" : res, st, loss, held));
        }
        stepResiduals(md, r.getAsJsonArray("blocks"));
        String worse = overfitted(r.getAsJsonArray("blocks"));
        if (!worse.isEmpty()) {
            md.append("\n**Residual at or above 1** (").append(worse).append("): on held-out calibration data the fitted "
                    + "linear predicts the residual branch no better than deleting it would, the sign of a fit to too few "
                    + "distinct inputs; more calibration prompts (`--calib-prompts`, or more rows in `--calib-file`) fit "
                    + "it better.\n");
        }
        String nearly = nearlyDeleted(r.getAsJsonArray("blocks"));
        if (!nearly.isEmpty()) {
            md.append("\n**Nearly a deletion** (").append(nearly).append("): on held-out data the linear leaves "
                    + "most of the branch unexplained (‖F − g(X)‖/‖F‖ ≥ ").append(NEARLY_DELETED).append("). The branch depends "
                    + "on more than its own token (the embedded model's `double_blocks.3` image stream, for one, is "
                    + "attention to the text tokens: docs/method.md, \"What a per-token linear map can carry\"), and more "
                    + "calibration data will not change that; what the block did is left to the sandwich's adapters. At "
                    + "a lower ratio the block may stay.\n");
        }
        sandwichCurves(md, r.getAsJsonArray("blocks"));
        JsonObject q = r.getAsJsonObject("quality");
        if (q != null) {
            md.append("\n## Quality (").append(str(q, "prompts")).append(")\n\n| model | overall | fd |");
            JsonObject cats = q.getAsJsonObject("base").getAsJsonObject("categories");
            for (String c : cats.keySet()) md.append(' ').append(c).append(" |");
            md.append("\n|---|---|---|").append("---|".repeat(cats.size())).append('\n');
            for (String which : new String[] {"base", "pruned"}) {
                JsonObject w = q.getAsJsonObject(which);
                md.append("| ").append(which).append(" | ").append(fmt(w.get("overall"))).append(" | ").append(fmt(w.get("fd"))).append(" |");
                for (String c : cats.keySet()) md.append(' ').append(fmt(w.getAsJsonObject("categories").get(c))).append(" |");
                md.append('\n');
            }
            JsonObject f = q.getAsJsonObject("fidelity");
            if (f != null) {
                md.append(String.format(Locale.ROOT, "%nFidelity to the base model (each pruned image against the base model's image of "
                                + "the same prompt and noise seed): pixel MSE %.4f, PSNR %s dB, %.0f%% the same picture (MSE < %s). Per "
                                + "category:", f.get("mse").getAsDouble(), fmt(f.get("psnr_db")), 100 * f.get("same").getAsDouble(),
                        f.has("same_threshold") ? f.get("same_threshold").getAsString() : "0.002"));
                for (Map.Entry<String, JsonElement> e : f.getAsJsonObject("categories").entrySet()) {
                    md.append(String.format(Locale.ROOT, " %s %.4f", e.getKey(), e.getValue().getAsDouble()));
                }
                md.append(".\n");
            }
        }
        if (r.has("quality_not_measured")) md.append("\n## Quality\n\nNot measured: ").append(str(r, "quality_not_measured")).append(".\n");
        JsonObject f = r.getAsJsonObject("output_fidelity");
        if (f != null) {
            md.append(String.format(Locale.ROOT, "%n## Output fidelity (the transformers alone; %s: %d items, %d sampler steps)%n%n"
                            + "Relative mean square of the pruned model's error (0: the base model's output; 1: as far from it as it "
                            + "is from zero). **Per step %.4f**: both models' guided velocities at the base model's latents, every "
                            + "step of its trajectory. **Final latents %.4f**: each model's own trajectory from the same noise.%n%n"
                            + "| step |", str(f, "source"), f.get("items").getAsInt(), f.get("steps").getAsInt(),
                    f.get("step_rel_mse").getAsDouble(), f.get("latent_rel_mse").getAsDouble()));
            JsonArray per = f.getAsJsonArray("step_rel_mse_per_step");
            for (int i = 0; i < per.size(); i++) md.append(' ').append(i).append(" |");
            md.append("\n|---|").append("---|".repeat(per.size())).append("\n| relative MSE |");
            for (JsonElement e : per) md.append(String.format(Locale.ROOT, " %.4f |", e.getAsDouble()));
            md.append('\n');
        }
        JsonObject s = r.getAsJsonObject("speed");
        if (s != null) {
            md.append("\n## Speed (one transformer forward, ").append(str(s, "work")).append(")\n\n| model | GFLOP | median ms |\n|---|---|---|\n");
            md.append(String.format(Locale.ROOT, "| base | %.3f | %.1f |%n| pruned | %.3f | %.1f |%n", s.get("base_flops").getAsDouble() / 1e9,
                    s.get("base_ms").getAsDouble(), s.get("pruned_flops").getAsDouble() / 1e9, s.get("pruned_ms").getAsDouble()));
            md.append(String.format(Locale.ROOT, "%nFLOP ratio %.3f, latency ratio %.3f", s.get("flop_ratio").getAsDouble(), s.get("latency_ratio").getAsDouble()));
            if (s.has("latency_ratio_q1")) {
                md.append(String.format(Locale.ROOT, " (median of %d per-round ratios, both models timed back to back in each round; quartiles %.3f-%.3f)",
                        s.get("latency_rounds").getAsInt(), s.get("latency_ratio_q1").getAsDouble(), s.get("latency_ratio_q3").getAsDouble()));
            }
            md.append(".\n");
        }
        md.append("\n## Time per phase (s)\n\n| phase | seconds |\n|---|---|\n");
        for (Map.Entry<String, JsonElement> e : r.getAsJsonObject("seconds").entrySet()) {
            md.append(String.format(Locale.ROOT, "| %s | %.1f |%n", e.getKey(), e.getValue().getAsDouble()));
        }
        return md.toString();
    }

    /** Links to the sandwich-training charts ({@link #write} draws them), when any block was trained. */
    private static void sandwichCurves(StringBuilder md, JsonArray blocks) {
        StringBuilder links = new StringBuilder();
        for (JsonElement e : blocks) {
            JsonObject b = e.getAsJsonObject();
            if (hasCurves(b)) links.append("![").append(b.get("block").getAsString()).append("](").append(curvesFile(b)).append(")\n\n");
        }
        if (links.length() == 0) return;
        md.append("\n## Sandwich training\n\nEach sandwich's loss per optimiser step: the minibatch loss of every step, the "
                + "loss over all training pairs before the first step and after the last, and the loss over the held-out "
                + "prompts' pairs (never trained on) measured every few steps: where the held-out curve flattens while the "
                + "training loss still falls, the training stops carrying over to other prompts.\n\n").append(links);
    }

    /** The residuals per sampler step and the branch's energy, rows per replaced stream, when the run measured them. */
    private static void stepResiduals(StringBuilder md, JsonArray blocks) {
        StringBuilder rows = new StringBuilder();
        int steps = 0;
        for (JsonElement e : blocks) {
            JsonObject b = e.getAsJsonObject();
            if (!b.has("residuals_per_step")) continue;
            for (Map.Entry<String, JsonElement> x : b.getAsJsonObject("residuals_per_step").entrySet()) {
                String stream = b.get("block").getAsString() + "/" + x.getKey();
                JsonArray v = x.getValue().getAsJsonArray();
                steps = Math.max(steps, v.size());
                rows.append("| ").append(stream).append(" residual |");
                for (JsonElement y : v) rows.append(' ').append(fmt(y)).append(" |");
                rows.append('\n');
                JsonObject energy = b.getAsJsonObject("branch_energy_per_step");
                if (energy != null && energy.has(x.getKey())) {
                    rows.append("| ").append(stream).append(" ‖F‖² |");
                    for (JsonElement y : energy.getAsJsonArray(x.getKey())) rows.append(' ').append(fmt(y)).append(" |");
                    rows.append('\n');
                }
            }
        }
        if (rows.length() == 0) return;
        md.append("\nThe same residual per sampler step (0: the noisiest), on the same held-out batches, with the branch's "
                + "energy ‖F‖² per token at that step (its weight in the overall residual): where along the trajectory a "
                + "per-token linear map stands in for the branch.\n\n| stream |");
        for (int i = 0; i < steps; i++) md.append(' ').append(i).append(" |");
        md.append("\n|---|").append("---|".repeat(steps)).append('\n').append(rows);
    }

    /** The held-out residual ‖F − g(X)‖/‖F‖ from which on a linear counts as nearly a deletion (it explains at most 36 % of ‖F‖²). */
    static final double NEARLY_DELETED = 0.8;

    /** The streams whose held-out residual is 1 or more ("single_blocks.0/joint 1.457, ..."), or "". */
    static String overfitted(JsonArray blocks) {
        return streamsWithResidual(blocks, 1, Double.POSITIVE_INFINITY);
    }

    /** The streams whose held-out residual is at least {@link #NEARLY_DELETED} but below 1, or "". */
    static String nearlyDeleted(JsonArray blocks) {
        return streamsWithResidual(blocks, NEARLY_DELETED, 1);
    }

    /** "block/stream residual, ..." for every stream with {@code from <= residual < to}. */
    private static String streamsWithResidual(JsonArray blocks, double from, double to) {
        StringBuilder sb = new StringBuilder();
        for (JsonElement e : blocks) {
            JsonObject b = e.getAsJsonObject();
            for (Map.Entry<String, JsonElement> x : b.getAsJsonObject("residuals").entrySet()) {
                JsonElement v = x.getValue();
                if (v.isJsonNull() || !(v.getAsDouble() >= from && v.getAsDouble() < to)) continue;
                sb.append(sb.length() == 0 ? "" : ", ").append(b.get("block").getAsString()).append('/').append(x.getKey())
                        .append(' ').append(fmt(v));
            }
        }
        return sb.toString();
    }

    /** A few lines for the console: blocks replaced, quality and speed. */
    public static String summary(JsonObject r) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "replaced %d of %d blocks:",
                r.get("replaced_count").getAsInt(), r.get("block_count").getAsInt()));
        for (JsonElement e : r.getAsJsonArray("blocks")) sb.append(' ').append(e.getAsJsonObject().get("block").getAsString());
        String worse = overfitted(r.getAsJsonArray("blocks"));
        if (!worse.isEmpty()) {
            sb.append("\nwarning: held-out residual at or above 1 (").append(worse)
                    .append("): the linear fits too few distinct inputs; give more calibration prompts");
        }
        String nearly = nearlyDeleted(r.getAsJsonArray("blocks"));
        if (!nearly.isEmpty()) {
            sb.append("\nnote: the linear is nearly a deletion at ").append(nearly)
                    .append(" (held-out residual >= ").append(NEARLY_DELETED).append("; see report.md)");
        }
        JsonObject q = r.getAsJsonObject("quality");
        if (q != null) {
            sb.append(String.format(Locale.ROOT, "%nquality (%s): overall %s -> %s, fd %s -> %s", str(q, "prompts"),
                    fmt(q.getAsJsonObject("base").get("overall")), fmt(q.getAsJsonObject("pruned").get("overall")),
                    fmt(q.getAsJsonObject("base").get("fd")), fmt(q.getAsJsonObject("pruned").get("fd"))));
            if (q.has("fidelity")) {
                sb.append(String.format(Locale.ROOT, "; pixel MSE to the base model's images %.4f",
                        q.getAsJsonObject("fidelity").get("mse").getAsDouble()));
            }
        }
        JsonObject f = r.getAsJsonObject("output_fidelity");
        if (f != null) {
            sb.append(String.format(Locale.ROOT, "%noutput fidelity (relative MSE to the base model): per step %.4f, final latents %.4f",
                    f.get("step_rel_mse").getAsDouble(), f.get("latent_rel_mse").getAsDouble()));
        }
        JsonObject s = r.getAsJsonObject("speed");
        sb.append(String.format(Locale.ROOT, "%nforward: %.1f -> %.1f ms (latency ratio %.3f, FLOP ratio %.3f); total %.0f s",
                s.get("base_ms").getAsDouble(), s.get("pruned_ms").getAsDouble(), s.get("latency_ratio").getAsDouble(),
                s.get("flop_ratio").getAsDouble(), r.getAsJsonObject("seconds").get("total").getAsDouble()));
        return sb.toString();
    }

    private static String str(JsonObject o, String k) {
        return o.has(k) && !o.get(k).isJsonNull() ? o.get(k).getAsString() : "-";
    }

    private static String fmt(JsonElement e) {
        return format("%.3f", e);
    }

    private static String fmt5(JsonElement e) {
        return format("%.5f", e);
    }

    /** "-" for an absent value, "n/a" for one that was not measured (NaN; null once written as JSON). */
    private static String format(String f, JsonElement e) {
        if (e == null) return "-";
        if (e.isJsonNull() || !Double.isFinite(e.getAsDouble())) return "n/a";
        return String.format(Locale.ROOT, f, e.getAsDouble());
    }
}
