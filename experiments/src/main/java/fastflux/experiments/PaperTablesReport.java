package fastflux.experiments;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import fastflux.pruning.PruneOptions;
import fastflux.experiments.PaperTables.Part;
import fastflux.experiments.PaperTables.Variant;
import fastflux.pruning.Charts;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code report.md} of {@link PaperTables}: each table with the paper's numbers (FLUX.1-dev, HPS v2 / CLIP score,
 * RTX 3090 latency; copied from the paper's Section 4) beside ours (Shapes judge overall and fd, mean ± sd over
 * the evaluation seed bases), then one line per ordering target. The paper's metrics and ours are not on one
 * scale: what should carry over is the ordering of the variants, not the values.
 */
final class PaperTablesReport {
    private PaperTablesReport() {}

    /** Table 6 of the paper: ratio → {blocks, TFLOPs, FLOP %, ms, HPS v2}. */
    static final double[][] PAPER_TABLE6 = {
            {0, 0, 38.19, 100.0, 98.26, 28.32},
            {5, 3, 36.79, 96.3, 93.24, 28.23},
            {10, 5, 35.87, 93.9, 90.78, 28.58},
            {15, 8, 33.39, 87.4, 85.39, 28.19},
            {20, 11, 32.46, 85.0, 80.83, 27.76},
            {25, 14, 31.07, 81.3, 76.85, 27.10},
            {30, 16, 29.37, 76.9, 72.30, 26.70}};

    /** Mean and sample standard deviation (NaN with one value) of one metric over the seed bases. */
    record Stat(double mean, double sd, int n) {
        static Stat of(List<JsonObject> evals, String metric) {
            if (evals == null || evals.isEmpty()) return null;
            double s = 0;
            int n = 0;
            double[] v = new double[evals.size()];
            for (JsonObject e : evals) {
                JsonElement x = value(e, metric);
                if (x == null || x.isJsonNull()) return null;
                v[n++] = x.getAsDouble();
                s += v[n - 1];
            }
            double mean = s / n;
            double ss = 0;
            for (double x : v) ss += (x - mean) * (x - mean);
            return new Stat(mean, n > 1 ? Math.sqrt(ss / (n - 1)) : Double.NaN, n);
        }

        @Override
        public String toString() {
            return format("%.3f");
        }

        /** "mean ± sd" with {@code f} for each number ("mean" alone with one value). */
        String format(String f) {
            return Double.isNaN(sd) ? String.format(Locale.ROOT, f, mean) : String.format(Locale.ROOT, f + " ± " + f, mean, sd);
        }
    }

    /** A metric of an evaluation: a top-level key ({@code overall}, {@code fd}) or a dotted path ({@code fidelity.mse}). */
    static JsonElement value(JsonObject e, String metric) {
        int dot = metric.indexOf('.');
        if (dot < 0) return e.get(metric);
        JsonElement inner = e.get(metric.substring(0, dot));
        return inner == null || !inner.isJsonObject() ? null : value(inner.getAsJsonObject(), metric.substring(dot + 1));
    }

    static final String FIDELITY = "fidelity.mse";
    /** {@link fastflux.pruning.OutputFidelity}'s error per sampler step. */
    static final String STEP_ERROR = "step_rel_mse";

    private static boolean lowerIsBetter(String metric) {
        return metric.equals(FIDELITY) || metric.equals(STEP_ERROR);
    }

    /**
     * A variant's evaluations over every training draw, draw-major and seed-base-minor (draw 0's bases, then draw
     * 1's, ...), so that position k of two variants' lists is the same draw index, prompts and noise seeds; null
     * when a draw has not been evaluated.
     */
    static List<JsonObject> overDraws(Map<String, List<JsonObject>> evals, String name, int draws) {
        List<JsonObject> all = new ArrayList<>();
        for (int d = 0; d < draws; d++) {
            List<JsonObject> e = evals.get(PaperTables.drawName(name, d));
            if (e == null) return null;
            all.addAll(e);
        }
        return all;
    }

    /**
     * The evaluations the tables show: Tables 4–5 and Figure 6 (and the ordering targets) pool the training draws
     * under the draw-0 name; Figure 7 and Table 6 are draw 0.
     */
    static Map<String, List<JsonObject>> pooled(PaperTables.Options o, Map<String, List<JsonObject>> perVariant) {
        Map<String, List<JsonObject>> evals = new LinkedHashMap<>(perVariant);
        if (o.draws() > 1) {
            for (String name : PaperTables.DRAWN) {
                List<JsonObject> all = overDraws(perVariant, name, o.draws());
                if (all != null) evals.put(name, all);
                else evals.remove(name);
            }
        }
        return evals;
    }

    static String markdown(PaperTables.Options o, Map<String, Variant> variants, Map<String, JsonObject> reports,
                           Map<String, List<JsonObject>> perVariant) {
        return markdown(o, variants, reports, perVariant, Map.of());
    }

    /** As above, with the ordering variants' output fidelity ({@link #outputFidelityTargets}) by variant name. */
    static String markdown(PaperTables.Options o, Map<String, Variant> variants, Map<String, JsonObject> reports,
                           Map<String, List<JsonObject>> perVariant, Map<String, JsonObject> outputs) {
        Map<String, List<JsonObject>> evals = pooled(o, perVariant);
        String over = o.draws() > 1 ? "the " + o.draws() + " training draws × " + o.seedBases() + " seed bases" : "the seed bases";
        StringBuilder md = new StringBuilder("# FastFLUX paper tables at Shapes scale\n\n");
        var m = o.method();
        JsonObject anyReport = reports.values().stream().findFirst().orElse(null);
        int blocks = anyReport == null ? 0 : anyReport.get("block_count").getAsInt();
        JsonObject full = reports.get("full");
        int count = full == null ? -1 : full.get("replaced_count").getAsInt();
        String replaced = count < 0 ? "" : " (" + count + (count == 1 ? " block" : " blocks") + " replaced)";
        String t4 = "";
        if (o.table4Apart() && o.parts().contains(Part.TABLE4)) {
            JsonObject t4Full = reports.get(o.table4Full());
            int n = t4Full == null ? -1 : t4Full.get("replaced_count").getAsInt();
            t4 = "; Table 4 at ratio " + PruneOptions.plain(o.table4Ratio())
                    + (n < 0 ? "" : " (" + n + (n == 1 ? " block" : " blocks") + " replaced)");
        }
        md.append(String.format(Locale.ROOT, "Base model `%s` (%d blocks). Ablations (Tables 4–5, Figures 6–7) at ratio %s%s%s; "
                        + "the paper's ablations are at 10%% of FLUX.1-dev's 57 blocks (5 replaced). Calibration: %d grammar prompts × 2 seeds, %d sampler "
                        + "steps; %d sandwich-training steps per block, lr %s (linears %s), LoRA rank %d, alpha %s; importance %s.%n%n",
                o.model(), blocks, m.ratio(), replaced, t4, m.calibPrompts(), m.calibSteps(), m.stSteps(), PruneOptions.plain(m.lr()), PruneOptions.plain(m.linearLr()), m.loraRank(), PruneOptions.plain(m.loraAlpha()),
                m.importance()));
        md.append(String.format(Locale.ROOT, "Quality: the judge's `overall` (higher is better; the paper's HPS v2 column) and "
                        + "`fd` (lower is better) on %s, %d images per prompt per seed base, %d seed base(s) (base %d + i·1000; each image its own noise seed, `Evaluation.imageSeed`), %d sampler "
                        + "steps; **mean ± sd over %s**. Fidelity: the pixel MSE between each image and the unpruned "
                        + "model's image of the same prompt and noise seed (lower is closer; `eval --against`), which the judge "
                        + "cannot see where the unpruned model itself fails. Latency: one transformer forward on the Shapes work, pruned and "
                        + "unpruned timed interleaved in the same process (`report.json` of each variant); the paper's is FLUX.1-dev on "
                        + "an RTX 3090.%n%n", o.evalLabel(), o.seeds(), o.seedBases(), o.firstSeedBase(), o.evalSteps(), over));
        if (o.draws() > 1) {
            md.append(String.format(Locale.ROOT, "Training draws: Tables 4–5 and Figure 6 prune each variant %d times, with "
                    + "seeds %d to %d (calibration prompts, adapter initialisation, minibatch order; `NAME-drawD` under "
                    + "`variants/`), and pool the evaluations of all draws; Figure 7 and Table 6 are draw 0's (seed %d).%n%n",
                    o.draws(), m.seed(), m.seed() + o.draws() - 1, m.seed()));
        }

        String head = "| variant | paper HPS v2 | ours overall | ours fd | ours fidelity MSE | replaced | latency ms (base → pruned) |\n"
                + "|---|---|---|---|---|---|---|\n";
        if (o.parts().contains(Part.TABLE4)) {
            md.append("## Table 4: sandwich training (ST)\n\n").append(head);
            md.append(row("FLUX / unpruned", "28.32", evals.get(PaperTables.UNPRUNED), null));
            md.append(row("FastFLUX", "28.58", evals.get(o.table4Full()), reports.get(o.table4Full())));
            md.append(row("w/o ST", "27.99", evals.get(o.table4NoSt()), reports.get(o.table4NoSt())));
            md.append("\nPaper: CLIP score 31.35 / 30.98 / 30.91, latency 98.26 / 90.78 / 90.83 ms.\n\n");
            md.append(chartLink(Part.TABLE4));
        }
        if (o.parts().contains(Part.FIG6)) {
            md.append("## Figure 6: linear replacement vs deletion, same training\n\n").append(head);
            md.append(row("FastFLUX (BRLL + ST)", "28.58", evals.get("full"), reports.get("full")));
            md.append(row("delete + ST", "28.25", evals.get("delete"), reports.get("delete")));
            md.append('\n');
            md.append(chartLink(Part.FIG6));
        }
        if (o.parts().contains(Part.TABLE5)) {
            md.append("## Table 5: replacement order\n\n").append(head);
            md.append(row("importance (FastFLUX)", "28.58", evals.get("full"), reports.get("full")));
            md.append(row("Start2End", "24.63", evals.get("start2end"), reports.get("start2end")));
            md.append(row("End2Start", "28.15", evals.get("end2start"), reports.get("end2start")));
            md.append('\n');
            md.append(chartLink(Part.TABLE5));
        }
        if (o.parts().contains(Part.FIG7)) {
            md.append("## Figure 7: sandwich width\n\n").append(head);
            for (int w : new int[] {1, 3, 5}) {
                String name = w == m.sandwichWidth() ? "full" : "width" + w;
                String paper = w == 1 ? "27.99 (3 − 0.59)" : w == 3 ? "28.58" : "28.61 (3 + 0.03)";
                md.append(row("width " + w, paper, perVariant.get(name), reports.get(name)));
            }
            md.append("\nThe paper gives the figure's values in its text only: +0.59 from 1 to 3 layers, +0.03 from 3 to 5.\n\n");
            md.append(chartLink(Part.FIG7));
        }
        if (o.parts().contains(Part.TABLE6)) {
            md.append("## Table 6: replacement ratio (one run to 30%, lower ratios built from it)\n\n");
            md.append("Lower ratios are built from the 30% run twice: with its final components (the paper's reuse: `overall`, "
                    + "`fd`) and with its components as they were when it had replaced that ratio's blocks (`--reuse-at-ratio`, "
                    + "the model a run to that ratio trains, byte for byte: `overall at its stage`).\n\n");
            md.append("| ratio | paper #blocks | paper TFLOPs | paper ms | paper HPS v2 | ours #blocks | ours GFLOP (%) | ours ms (base → pruned, ratio) | ours overall | ours fd | ours overall at its stage |\n");
            md.append("|---|---|---|---|---|---|---|---|---|---|---|\n");
            for (double[] p : PAPER_TABLE6) {
                String name = p[0] == 0 ? PaperTables.UNPRUNED : PaperTables.ratioName(p[0] / 100);
                JsonObject r = reports.get(name);
                String ours;
                if (p[0] == 0) {
                    JsonObject s = reports.get(PaperTables.ratioName(0.30)) == null ? null : reports.get(PaperTables.ratioName(0.30)).getAsJsonObject("speed");
                    ours = s == null ? "0 | - | - " : String.format(Locale.ROOT, "0 | %.3f (100%%) | %.1f ", s.get("base_flops").getAsDouble() / 1e9,
                            s.get("base_ms").getAsDouble());
                } else if (r == null) {
                    ours = "- | - | - ";
                } else {
                    JsonObject s = r.getAsJsonObject("speed");
                    ours = String.format(Locale.ROOT, "%d | %.3f (%.1f%%) | %.1f → %.1f (%.3f) ", r.get("replaced_count").getAsInt(),
                            s.get("pruned_flops").getAsDouble() / 1e9, 100 * s.get("flop_ratio").getAsDouble(), s.get("base_ms").getAsDouble(),
                            s.get("pruned_ms").getAsDouble(), s.get("latency_ratio").getAsDouble());
                }
                String staged = p[0] == 0 || p[0] == 30 ? "-" : str(Stat.of(evals.get(name + PaperTables.STAGE), "overall"));
                md.append(String.format(Locale.ROOT, "| %s | %d | %.2f (%.1f%%) | %.2f | %.2f | %s| %s | %s | %s |%n", p[0] == 0 ? "0 (baseline)" : (int) p[0] + "%",
                        (int) p[1], p[2], p[3], p[4], p[5], ours, str(Stat.of(evals.get(name), "overall")), str(Stat.of(evals.get(name), "fd")),
                        staged));
            }
            md.append('\n').append(chartLink(Part.TABLE6));
        }

        String per = o.draws() > 1 ? "draw and seed base" : "seed base";
        md.append("## Ordering targets (overall)\n\nUnpaired: holds when the gap of the means exceeds the larger of the two "
                + "sds. Paired: every variant is judged on the same prompts and noise seeds in each seed base, so the "
                + "difference per " + per + " is taken first; holds when its mean exceeds its sd.\n\n");
        target(md, "Table 4: full method > linear without ST", evals, o.table4Full(), o.table4NoSt(), "overall", per);
        target(md, "Figure 6: full method > delete with the same training", evals, "full", "delete", "overall", per);
        target(md, "Table 5: importance order > Start2End", evals, "full", "start2end", "overall", per);
        if (o.draws() > 1) {
            md.append("\nEach draw on its own (paired by seed base), which is what one run of `prune` gives:\n\n");
            md.append("| target |");
            for (int d = 0; d < o.draws(); d++) md.append(" draw ").append(d).append(" |");
            md.append("\n|---|").append("---|".repeat(o.draws())).append('\n');
            drawRow(md, "Table 4: full > w/o ST", perVariant, o.table4Full(), o.table4NoSt(), o.draws());
            drawRow(md, "Figure 6: full > delete + ST", perVariant, "full", "delete", o.draws());
            drawRow(md, "Table 5: importance > Start2End", perVariant, "full", "start2end", o.draws());
        }
        md.append("\n## Ordering targets (fidelity to the unpruned model)\n\nThe same tests on the pixel MSE to the "
                + "unpruned model's images, where lower is better: each line states how much closer the first variant "
                + "stays.\n\n");
        target(md, "Table 4: full method closer than linear without ST", evals, o.table4Full(), o.table4NoSt(), FIDELITY, per);
        target(md, "Figure 6: full method closer than delete with the same training", evals, "full", "delete", FIDELITY, per);
        target(md, "Table 5: importance order closer than Start2End", evals, "full", "start2end", FIDELITY, per);
        outputFidelityTargets(md, outputs, o);
        md.append('\n');

        md.append("## Replaced blocks per variant\n\n| variant | what | replaced (in order) | total s |\n|---|---|---|---|\n");
        for (Variant v : variants.values()) {
            JsonObject r = reports.get(v.name());
            if (r == null) continue;
            StringBuilder b = new StringBuilder();
            for (JsonElement e : r.getAsJsonArray("blocks")) b.append(b.length() == 0 ? "" : ", ").append(e.getAsJsonObject().get("block").getAsString());
            md.append(String.format(Locale.ROOT, "| %s | %s | %s | %.0f |%n", v.name(), v.label(), b,
                    r.getAsJsonObject("seconds").get("total").getAsDouble()));
        }
        md.append("\n## Image grids (rows: the first evaluation prompt of each category; columns: seeds 0–")
                .append(o.gridSeeds() - 1).append(")\n\n");
        for (String name : perVariant.keySet()) md.append("**").append(name).append("** ![](grids/").append(name).append(".png)\n\n");
        return md.toString();
    }

    /** Where {@link #writeCharts} puts a part's chart, relative to the report. */
    static String chartFile(Part p) {
        return "charts/" + p.key() + ".png";
    }

    private static String chartLink(Part p) {
        return "![" + p.key() + "](" + chartFile(p) + ")\n\n";
    }

    // the panels' axes, kept short so that they fit beside a panel; the subtitle says what they are
    private static final String OURS_OVERALL = "ours: overall ↑";
    private static final String OURS_FIDELITY = "ours: fidelity MSE ↓";
    private static final String PAPER_HPS = "paper: HPS v2 ↑";
    private static final String PANELS = "ours: the Shapes judge's overall and the pixel MSE to the unpruned model's images, mean ± sd "
            + "over the evaluations of the tables; paper: FLUX.1-dev's HPS v2. ↑ higher is better, ↓ lower is better.";

    /**
     * The charts of the reported parts, keyed by part: each variant's score (mean ± sd over the same evaluations as
     * the tables) beside the paper's, on separate axes since the two are not on one scale; Figure 7 and Table 6 against
     * their numeric variable (sandwich width, ratio).
     */
    static Map<Part, org.jfree.chart.JFreeChart> charts(PaperTables.Options o, Map<String, JsonObject> reports,
                                                        Map<String, List<JsonObject>> perVariant) {
        Map<String, List<JsonObject>> evals = pooled(o, perVariant);
        Map<Part, org.jfree.chart.JFreeChart> out = new LinkedHashMap<>();
        if (o.parts().contains(Part.TABLE4)) {
            out.put(Part.TABLE4, variantChart("Table 4: sandwich training (ST)", List.of("unpruned", "FastFLUX", "w/o ST"),
                    List.of(PaperTables.UNPRUNED, o.table4Full(), o.table4NoSt()), evals, new double[] {28.32, 28.58, 27.99}, false));
        }
        if (o.parts().contains(Part.FIG6)) {
            out.put(Part.FIG6, variantChart("Figure 6: linear replacement vs deletion", List.of("FastFLUX (BRLL + ST)", "delete + ST"),
                    List.of("full", "delete"), evals, new double[] {28.58, 28.25}, false));
        }
        if (o.parts().contains(Part.TABLE5)) {
            out.put(Part.TABLE5, variantChart("Table 5: replacement order", List.of("importance", "Start2End", "End2Start"),
                    List.of("full", "start2end", "end2start"), evals, new double[] {28.58, 24.63, 28.15}, false));
        }
        if (o.parts().contains(Part.FIG7)) {
            List<String> names = new ArrayList<>();
            for (int w : new int[] {1, 3, 5}) names.add(w == o.method().sandwichWidth() ? "full" : "width" + w);
            out.put(Part.FIG7, variantChart("Figure 7: sandwich width", List.of("width 1", "width 3", "width 5"), names,
                    perVariant, new double[] {27.99, 28.58, 28.61}, true));
        }
        if (o.parts().contains(Part.TABLE6)) out.put(Part.TABLE6, ratioChart(reports, evals));
        return out;
    }

    /** Writes {@link #charts} as PNGs into the report's directory, at {@link #chartFile}. */
    static void writeCharts(Path reportDir, PaperTables.Options o, Map<String, JsonObject> reports,
                            Map<String, List<JsonObject>> perVariant) {
        charts(o, reports, perVariant).forEach((part, chart) -> Charts.writePng(chart, Charts.WIDTH, chartHeight(chart),
                reportDir.resolve(chartFile(part))));
    }

    /** 170 pixels per stacked panel, so that each keeps a readable value axis. */
    static int chartHeight(org.jfree.chart.JFreeChart chart) {
        int panels = chart.getPlot() instanceof org.jfree.chart.plot.CombinedDomainCategoryPlot c ? c.getSubplots().size()
                : chart.getPlot() instanceof org.jfree.chart.plot.CombinedDomainXYPlot x ? x.getSubplots().size() : 1;
        return 170 + 170 * panels;
    }

    private static org.jfree.chart.JFreeChart variantChart(String title, List<String> labels, List<String> names,
                                                           Map<String, List<JsonObject>> evals, double[] paper, boolean joined) {
        return Charts.categoryPanels(title, PANELS, null, labels, List.of(
                new Charts.Panel(OURS_OVERALL, List.of(series("ours: overall", names, evals, "overall"))),
                new Charts.Panel(OURS_FIDELITY, List.of(series("ours: fidelity MSE", names, evals, FIDELITY))),
                new Charts.Panel(PAPER_HPS, List.of(new Charts.Series("paper: HPS v2", paper)))), joined);
    }

    // mean ± sd of a metric per variant name; NaN where a variant has no evaluation of it
    private static Charts.Series series(String label, List<String> names, Map<String, List<JsonObject>> evals, String metric) {
        double[] mean = new double[names.size()];
        double[] sd = new double[names.size()];
        for (int i = 0; i < mean.length; i++) {
            Stat st = names.get(i) == null ? null : Stat.of(evals.get(names.get(i)), metric);
            mean[i] = st == null ? Double.NaN : st.mean();
            sd[i] = st == null ? Double.NaN : st.sd();
        }
        return new Charts.Series(label, mean, sd);
    }

    /**
     * Table 6 against the ratio: our overall for the reused lower ratios and for the 30 % run's stages, the paper's
     * HPS v2, and the speed of both as a share of the unpruned model's (latency and FLOPs, which are on one scale).
     */
    private static org.jfree.chart.JFreeChart ratioChart(Map<String, JsonObject> reports, Map<String, List<JsonObject>> evals) {
        int n = PAPER_TABLE6.length;
        double[] x = new double[n], hps = new double[n], paperMs = new double[n], paperFlops = new double[n];
        double[] oursMs = new double[n], oursFlops = new double[n];
        List<String> reused = new ArrayList<>(), staged = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            double[] p = PAPER_TABLE6[i];
            x[i] = p[0];
            hps[i] = p[5];
            paperMs[i] = 100 * p[4] / PAPER_TABLE6[0][4];
            paperFlops[i] = p[3];
            String name = p[0] == 0 ? PaperTables.UNPRUNED : PaperTables.ratioName(p[0] / 100);
            reused.add(name);
            // the stage at 0 % is the unpruned model and at 30 % the trained run: the same models, so the lines meet
            staged.add(p[0] == 0 || p[0] == 30 ? name : name + PaperTables.STAGE);
            JsonObject speed = reports.get(name) == null ? null : reports.get(name).getAsJsonObject("speed");
            oursMs[i] = p[0] == 0 ? 100 : speed == null ? Double.NaN : 100 * speed.get("latency_ratio").getAsDouble();
            oursFlops[i] = p[0] == 0 ? 100 : speed == null ? Double.NaN : 100 * speed.get("flop_ratio").getAsDouble();
        }
        return Charts.xyPanels("Table 6: replacement ratio", "ours: the Shapes judge's overall, mean ± sd, of the lower ratios built "
                        + "from the 30 % run's final components and from its stage at that ratio; paper: FLUX.1-dev's HPS v2; "
                        + "latency and FLOPs of one forward as a share of the unpruned model's.", "ratio (% of the blocks replaced)", x, List.of(
                new Charts.Panel(OURS_OVERALL, List.of(series("ours: final components", reused, evals, "overall"),
                        series("ours: stage at the ratio", staged, evals, "overall"))),
                new Charts.Panel(PAPER_HPS, List.of(new Charts.Series("paper: HPS v2", hps))),
                new Charts.Panel("% of unpruned", List.of(new Charts.Series("ours: latency", oursMs),
                        new Charts.Series("ours: FLOPs", oursFlops), new Charts.Series("paper: latency", paperMs),
                        new Charts.Series("paper: FLOPs", paperFlops)))));
    }

    /**
     * The ordering targets once more on the transformers' outputs: each variant's error per sampler step against the
     * unpruned model ({@link fastflux.pruning.OutputFidelity}, every variant on the same prompts and noise), one value
     * per training draw, paired by draw. Only the variants whose every draw has one take part; nothing is written when
     * the full method is not among them.
     */
    static void outputFidelityTargets(StringBuilder md, Map<String, JsonObject> outputs, PaperTables.Options o) {
        int draws = o.draws();
        Map<String, List<JsonObject>> byDraw = new LinkedHashMap<>();
        for (String name : PaperTables.DRAWN) {
            List<JsonObject> all = new ArrayList<>();
            for (int d = 0; d < draws && all != null; d++) {
                JsonObject r = outputs.get(PaperTables.drawName(name, d));
                if (r == null || !r.has(STEP_ERROR)) all = null;
                else all.add(r);
            }
            if (all != null) byDraw.put(name, all);
        }
        String full = byDraw.containsKey("full") ? "full" : o.table4Full();
        if (!byDraw.containsKey(full) || byDraw.size() < 2) return;
        JsonObject any = byDraw.get(full).get(0);
        md.append(String.format(Locale.ROOT, "%n## Ordering targets (output fidelity: the transformers alone)%n%nThe error "
                + "each variant's transformer adds per sampler step against the unpruned one's: both models' guided velocities "
                + "at the unpruned model's latents, relative mean square (`fastflux fidelity`; %s, %d items, %d steps; lower "
                + "is closer), one value per training draw. No judge and no evaluation noise, but no image either.%n%n",
                any.get("source").getAsString(), any.get("items").getAsInt(), any.get("steps").getAsInt()));
        target(md, "Table 4: full method closer than linear without ST", byDraw, o.table4Full(), o.table4NoSt(), STEP_ERROR, "draw");
        target(md, "Figure 6: full method closer than delete with the same training", byDraw, "full", "delete", STEP_ERROR, "draw");
        target(md, "Table 5: importance order closer than Start2End", byDraw, "full", "start2end", STEP_ERROR, "draw");
    }

    /** One row of the per-draw table: each draw's paired difference and whether it holds on its own. */
    private static void drawRow(StringBuilder md, String what, Map<String, List<JsonObject>> perVariant, String a, String b,
                                int draws) {
        if (overDraws(perVariant, a, draws) == null || overDraws(perVariant, b, draws) == null) return;
        md.append("| ").append(what).append(" |");
        for (int d = 0; d < draws; d++) {
            Stat s = pairedDifference(perVariant.get(PaperTables.drawName(a, d)), perVariant.get(PaperTables.drawName(b, d)), "overall");
            md.append(' ').append(s == null ? "-" : s.format("%.3f") + (s.n() < 2 ? "" : s.mean() > s.sd() ? " (holds)" : " (does not)"))
                    .append(" |");
        }
        md.append('\n');
    }

    private static String row(String label, String paper, List<JsonObject> evals, JsonObject report) {
        String replaced = "-", ms = "-";
        if (report != null) {
            StringBuilder b = new StringBuilder();
            for (JsonElement e : report.getAsJsonArray("blocks")) b.append(b.length() == 0 ? "" : ", ").append(e.getAsJsonObject().get("block").getAsString());
            replaced = b.toString();
            JsonObject s = report.getAsJsonObject("speed");
            ms = String.format(Locale.ROOT, "%.1f → %.1f", s.get("base_ms").getAsDouble(), s.get("pruned_ms").getAsDouble());
        }
        return String.format("| %s | %s | %s | %s | %s | %s | %s |%n", label, paper, str(Stat.of(evals, "overall")),
                str(Stat.of(evals, "fd")), str(Stat.of(evals, FIDELITY), "%.4f"), replaced, ms);
    }

    /**
     * One line: "holds", "does not hold" or why it cannot be decided, with the numbers: {@code a} better than
     * {@code b} on {@code metric} ({@code overall}: higher is better; {@link #FIDELITY}: lower is better, so the
     * gap is b − a).
     */
    static void target(StringBuilder md, String what, Map<String, List<JsonObject>> evals, String a, String b, String metric) {
        target(md, what, evals, a, b, metric, "seed base");
    }

    /** As above, the lists paired position by position over {@code pairedBy} (seed base, or draw and seed base). */
    static void target(StringBuilder md, String what, Map<String, List<JsonObject>> evals, String a, String b, String metric,
                       String pairedBy) {
        if (!evals.containsKey(a) || !evals.containsKey(b)) return;
        Stat x = Stat.of(evals.get(a), metric);
        Stat y = Stat.of(evals.get(b), metric);
        if (x == null || y == null) {
            md.append("- ").append(what).append(": no score\n");
            return;
        }
        boolean lowerIsBetter = lowerIsBetter(metric);
        String format = lowerIsBetter ? "%.4f" : "%.3f";
        double gap = lowerIsBetter ? y.mean() - x.mean() : x.mean() - y.mean();
        String verdict;
        if (x.n() < 2) {
            verdict = "not decidable with one " + pairedBy;
        } else {
            double sd = Math.max(x.sd(), y.sd());
            verdict = "unpaired " + (gap > sd ? "**holds**" : "**does not hold**");
            verdict += String.format(Locale.ROOT, " (gap " + format + " vs sd " + format + ")", gap, sd);
            // Every variant is judged on the same prompts and noise seeds per seed base, so the per-base
            // difference removes the noise the variants share; its own sd is the fair yardstick for the gap.
            Stat d = lowerIsBetter ? pairedDifference(evals.get(b), evals.get(a), metric) : pairedDifference(evals.get(a), evals.get(b), metric);
            if (d != null && d.n() >= 2) {
                verdict += String.format(Locale.ROOT, "; paired by %s: difference %s, %s", pairedBy, d.format(format),
                        d.mean() > d.sd() ? "**holds**" : "**does not hold**");
            }
        }
        md.append(String.format(Locale.ROOT, "- %s: %s vs %s: %s%n", what, x.format(format), y.format(format), verdict));
    }

    /**
     * Mean ± sd over seed bases of {@code a − b} on {@code metric}. Both lists are in seed-base order (0, 1000,
     * ...), as {@code PaperTables.evaluate} returns them, so position k of each is the same prompts and noise seeds.
     */
    static Stat pairedDifference(List<JsonObject> a, List<JsonObject> b, String metric) {
        List<JsonObject> diffs = new ArrayList<>();
        for (int k = 0; k < Math.min(a.size(), b.size()); k++) {
            JsonElement x = value(a.get(k), metric);
            JsonElement y = value(b.get(k), metric);
            if (x == null || y == null || x.isJsonNull() || y.isJsonNull()) return null;
            JsonObject d = new JsonObject();
            d.addProperty("d", x.getAsDouble() - y.getAsDouble());
            diffs.add(d);
        }
        return Stat.of(diffs, "d");
    }

    private static String str(Stat s) {
        return s == null ? "-" : s.toString();
    }

    private static String str(Stat s, String format) {
        return s == null ? "-" : s.format(format);
    }
}
