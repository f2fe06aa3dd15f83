package fastflux.experiments;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PaperTablesReportTest {
    static List<JsonObject> overall(double... v) {
        return java.util.Arrays.stream(v).mapToObj(x -> {
            JsonObject o = new JsonObject();
            o.addProperty("overall", x);
            return o;
        }).toList();
    }

    @Test
    void pairedDifferencesCanHoldWhereTheUnpairedGapDoesNot() {
        // Seed bases shift both variants alike (0.45, 0.38, 0.29 vs 0.50, 0.40, 0.30): the unpaired gap (0.027) is
        // far below either sd, the per-base differences (0.05, 0.02, 0.01) are all positive.
        List<JsonObject> a = overall(0.50, 0.40, 0.30), b = overall(0.45, 0.38, 0.29);
        PaperTablesReport.Stat d = PaperTablesReport.pairedDifference(a, b, "overall");
        assertEquals(3, d.n());
        assertEquals(0.08 / 3, d.mean(), 1e-12);
        assertEquals(Math.sqrt((Math.pow(0.05 - 0.08 / 3, 2) + Math.pow(0.02 - 0.08 / 3, 2) + Math.pow(0.01 - 0.08 / 3, 2)) / 2), d.sd(), 1e-12);
        StringBuilder md = new StringBuilder();
        PaperTablesReport.target(md, "t", Map.of("x", a, "y", b), "x", "y", "overall");
        assertTrue(md.toString().contains("unpaired **does not hold**"), md.toString());
        assertTrue(md.toString().contains("paired by seed base: difference 0.027 ± 0.021, **holds**"), md.toString());
        md.setLength(0);
        PaperTablesReport.target(md, "t", Map.of("x", b, "y", a), "x", "y", "overall");
        assertTrue(md.toString().contains("paired by seed base: difference -0.027 ± 0.021, **does not hold**"), md.toString());
    }

    @Test
    void fidelityIsBetterWhenLowerAndIsReadFromItsNestedKey() {
        // x stays closer to the unpruned model than y in every seed base (MSE 0.010 vs 0.015, 0.012 vs 0.018, ...)
        List<JsonObject> x = fidelity(0.010, 0.012, 0.011), y = fidelity(0.015, 0.018, 0.014);
        assertEquals(0.011, PaperTablesReport.Stat.of(x, PaperTablesReport.FIDELITY).mean(), 1e-12);
        StringBuilder md = new StringBuilder();
        PaperTablesReport.target(md, "t", Map.of("x", x, "y", y), "x", "y", PaperTablesReport.FIDELITY);
        assertTrue(md.toString().contains("0.0110 ± 0.0010 vs 0.0157 ± 0.0021"), md.toString());
        assertTrue(md.toString().contains("unpaired **holds** (gap 0.0047 vs sd 0.0021)"), md.toString());
        assertTrue(md.toString().contains("difference 0.0047 ± 0.0015, **holds**"), md.toString());
        md.setLength(0);
        PaperTablesReport.target(md, "t", Map.of("x", y, "y", x), "x", "y", PaperTablesReport.FIDELITY);
        assertTrue(md.toString().contains("unpaired **does not hold**"), md.toString());
        // an evaluation without fidelity (the unpruned model's own) has no score on it
        assertNull(PaperTablesReport.Stat.of(overall(0.5), PaperTablesReport.FIDELITY));
    }

    @Test
    void drawsArePooledForTheOrderingsAndShownOneByOne() {
        var method = fastflux.pruning.PruneOptions.defaults(0.25);
        var o = options(2, 0.25).toBuilder().parts(java.util.EnumSet.of(PaperTables.Part.FIG6)).method(method).build();
        Map<String, List<JsonObject>> evals = new java.util.LinkedHashMap<>();
        evals.put(PaperTables.UNPRUNED, overall(0.7, 0.7));
        evals.put("full", overall(0.50, 0.60));
        evals.put("delete", overall(0.45, 0.55));
        evals.put("full-draw1", overall(0.40, 0.50));
        evals.put("delete-draw1", overall(0.42, 0.48));
        String md = PaperTablesReport.markdown(o, Map.of(), Map.of(), evals);
        // pooled: full 0.50, 0.60, 0.40, 0.50; paired differences 0.05, 0.05, -0.02, 0.02: draw 0 alone holds, the
        // two draws together do not (mean 0.025, sd 0.033)
        assertTrue(md.contains("| FastFLUX (BRLL + ST) | 28.58 | 0.500 ± 0.082 |"), md);
        double mean = 0.025, sd = Math.sqrt((2 * Math.pow(0.025, 2) + Math.pow(0.045, 2) + Math.pow(0.005, 2)) / 3);
        assertTrue(md.contains(String.format(java.util.Locale.ROOT, "paired by draw and seed base: difference %.3f ± %.3f, **does not hold**",
                mean, sd)), md);
        assertTrue(md.contains("| Figure 6: full > delete + ST | 0.050 ± 0.000 (holds) | 0.000 ± 0.028 (does not) |"), md);
        assertTrue(md.contains("mean ± sd over the 2 training draws × 2 seed bases") && md.contains("base 5000 + i·1000"), md);
        // a draw not evaluated yet: the pooled rows wait for it
        evals.remove("delete-draw1");
        String partial = PaperTablesReport.markdown(o, Map.of(), Map.of(), evals);
        assertTrue(partial.contains("| delete + ST | 28.25 | - |"), partial);
        assertFalse(partial.contains("Figure 6: full method > delete"), partial);
    }

    @Test
    void theTransformersOutputErrorIsJudgedPairedByDrawWhenEveryDrawHasIt() {
        // per-step errors of three draws: full 0.026, 0.025, 0.026; delete 0.040, 0.035, 0.036 (lower is closer)
        Map<String, JsonObject> outputs = new java.util.HashMap<>();
        double[] full = {0.026, 0.025, 0.026}, delete = {0.040, 0.035, 0.036};
        for (int d = 0; d < 3; d++) {
            outputs.put(PaperTables.drawName("full", d), stepError(full[d]));
            outputs.put(PaperTables.drawName("delete", d), stepError(delete[d]));
        }
        outputs.put("no-st", stepError(0.03)); // one draw of three: left out
        StringBuilder md = new StringBuilder();
        PaperTablesReport.outputFidelityTargets(md, outputs, options(3, 0.25));
        String s = md.toString();
        assertTrue(s.contains("## Ordering targets (output fidelity"), s);
        assertTrue(s.contains("Figure 6: full method closer than delete with the same training: 0.0257 ± 0.0006 vs 0.0370 ± 0.0026"), s);
        assertTrue(s.contains("paired by draw: difference 0.0113 ± 0.0023, **holds**"), s);
        assertFalse(s.contains("Table 4"), "no-st lacks draws 1 and 2: " + s);
        assertTrue(s.contains("grammar(n=32, seed=1), 64 items, 20 steps"), s);
        // no measurement of the full method: no section at all
        md.setLength(0);
        PaperTablesReport.outputFidelityTargets(md, Map.of("delete", stepError(0.03), "no-st", stepError(0.03)), options(1, 0.25));
        assertEquals("", md.toString());
    }

    /** Options at the ablation ratio 0.25 with Table 4 at {@code table4Ratio}, 2 seed bases from 5000. */
    static PaperTables.Options options(int draws, double table4Ratio) {
        return PaperTables.Options.defaults(java.nio.file.Path.of("base"), fastflux.pruning.PruneOptions.defaults(0.25))
                .toBuilder().parts(java.util.EnumSet.of(PaperTables.Part.TABLE4, PaperTables.Part.FIG6))
                .evalPrompts(List.of(new fastflux.shapes.Prompt(fastflux.shapes.Category.SINGLE_OBJECT, "a circle")), "one prompt")
                .seeds(4).seedBases(2).evalSteps(20).gridSeeds(4).draws(draws).firstSeedBase(5000).table4Ratio(table4Ratio).build();
    }

    @Test
    void table4AtARatioOfItsOwnIsJudgedOnItsOwnPair() {
        // The ablations' full method ("full", 0.25) scores 0.50 / 0.60 and its no-st twin is absent; Table 4's pair at
        // 0.42 is t4-full (0.45, 0.47) against t4-no-st (0.33, 0.43): differences 0.12 and 0.04
        Map<String, List<JsonObject>> evals = new java.util.LinkedHashMap<>();
        evals.put(PaperTables.UNPRUNED, overall(0.7, 0.7));
        evals.put("full", overall(0.50, 0.60));
        evals.put("delete", overall(0.45, 0.55));
        evals.put("t4-full", overall(0.45, 0.47));
        evals.put("t4-no-st", overall(0.33, 0.43));
        Map<String, JsonObject> outputs = Map.of("full", stepError(0.026), "delete", stepError(0.040),
                "t4-full", stepError(0.030), "t4-no-st", stepError(0.045));
        String md = PaperTablesReport.markdown(options(1, 0.42), Map.of(), Map.of(), evals, outputs);
        assertTrue(md.contains("Figures 6–7) at ratio 0.25; Table 4 at ratio 0.42; the paper's"), md);
        assertTrue(md.contains("| FastFLUX | 28.58 | 0.460 ± 0.014 |"), md);
        assertTrue(md.contains("| w/o ST | 27.99 | 0.380 ± 0.071 |"), md);
        assertTrue(md.contains("Table 4: full method > linear without ST: 0.460 ± 0.014 vs 0.380 ± 0.071"), md);
        assertTrue(md.contains("paired by seed base: difference 0.080 ± 0.057, **holds**"), md);
        // Figure 6 keeps the ablations' own full method
        assertTrue(md.contains("| FastFLUX (BRLL + ST) | 28.58 | 0.550 ± 0.071 |"), md);
        assertTrue(md.contains("Table 4: full method closer than linear without ST: 0.0300"), md);
        assertTrue(md.contains("Figure 6: full method closer than delete with the same training: 0.0260"), md);
    }

    /** An evaluation with an overall and a fidelity MSE. */
    static JsonObject scored(double overall, double mse) {
        JsonObject o = new JsonObject();
        o.addProperty("overall", overall);
        JsonObject f = new JsonObject();
        f.addProperty("mse", mse);
        o.add("fidelity", f);
        return o;
    }

    @Test
    void everyPartIsChartedBesideThePaperAndWrittenWhereTheMarkdownLinksIt(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        var o = options(1, 0.25).toBuilder().parts(java.util.EnumSet.allOf(PaperTables.Part.class)).firstSeedBase(0).build();
        Map<String, List<JsonObject>> evals = new java.util.LinkedHashMap<>();
        Map<String, JsonObject> reports = new java.util.LinkedHashMap<>();
        evals.put(PaperTables.UNPRUNED, overall(0.7, 0.72));
        String[] names = {"full", "no-st", "delete", "start2end", "end2start", "width1", "width5"};
        for (int i = 0; i < names.length; i++) evals.put(names[i], List.of(scored(0.6 - 0.02 * i, 0.01 + 0.001 * i), scored(0.62 - 0.02 * i, 0.012)));
        for (double r : PaperTables.RATIOS) {
            String n = PaperTables.ratioName(r);
            evals.put(n, List.of(scored(0.7 - r, 0.01), scored(0.68 - r, 0.011)));
            if (r < 0.3) evals.put(n + PaperTables.STAGE, List.of(scored(0.71 - r, 0.01), scored(0.69 - r, 0.01)));
            JsonObject speed = new JsonObject();
            speed.addProperty("latency_ratio", 1 - r * 0.8);
            speed.addProperty("flop_ratio", 1 - r * 0.9);
            speed.addProperty("base_flops", 1e9);
            speed.addProperty("pruned_flops", 1e9 * (1 - r * 0.9));
            speed.addProperty("base_ms", 10.0);
            speed.addProperty("pruned_ms", 10 * (1 - r * 0.8));
            JsonObject rep = new JsonObject();
            rep.addProperty("replaced_count", (int) Math.round(r * 12));
            rep.addProperty("block_count", 12);
            rep.add("speed", speed);
            reports.put(n, rep);
        }
        evals.remove("end2start"); // not evaluated yet: a gap, not an error
        var charts = PaperTablesReport.charts(o, reports, evals);
        assertEquals(java.util.EnumSet.allOf(PaperTables.Part.class), charts.keySet());
        var t5 = (org.jfree.chart.plot.CombinedDomainCategoryPlot) charts.get(PaperTables.Part.TABLE5).getPlot();
        assertEquals(List.of("importance", "Start2End", "End2Start"), t5.getCategories());
        assertEquals(3, t5.getSubplots().size()); // ours overall, ours fidelity, the paper's HPS v2
        var ours = (org.jfree.data.statistics.StatisticalCategoryDataset) ((org.jfree.chart.plot.CategoryPlot) t5.getSubplots().get(0)).getDataset();
        assertEquals(0.61, ours.getMeanValue("ours: overall", "importance").doubleValue(), 1e-12);
        assertNull(ours.getMeanValue("ours: overall", "End2Start"));
        var t6 = (org.jfree.chart.plot.CombinedDomainXYPlot) charts.get(PaperTables.Part.TABLE6).getPlot();
        var overall6 = ((org.jfree.chart.plot.XYPlot) t6.getSubplots().get(0)).getDataset();
        assertEquals(7, overall6.getItemCount(0)); // 0 % (the unpruned model) to 30 %
        assertEquals(0.71, overall6.getYValue(0, 0), 1e-12);
        assertEquals(0.69 - 0.05, overall6.getYValue(0, 1), 1e-12);
        assertEquals(0.70 - 0.05, overall6.getYValue(1, 1), 1e-12); // the stage of 5 %

        PaperTablesReport.writeCharts(dir, o, reports, evals);
        String md = PaperTablesReport.markdown(o, Map.of(), reports, evals);
        for (var e : charts.entrySet()) {
            String file = PaperTablesReport.chartFile(e.getKey());
            assertTrue(md.contains("](" + file + ")"), file);
            java.awt.image.BufferedImage png = javax.imageio.ImageIO.read(dir.resolve(file).toFile());
            assertEquals(fastflux.pruning.Charts.WIDTH, png.getWidth(), file);
            assertEquals(PaperTablesReport.chartHeight(e.getValue()), png.getHeight(), file);
        }
    }

    static JsonObject stepError(double e) {
        JsonObject f = new JsonObject();
        f.addProperty("source", "grammar(n=32, seed=1)");
        f.addProperty("items", 64);
        f.addProperty("steps", 20);
        f.addProperty("step_rel_mse", e);
        return f;
    }

    static List<JsonObject> fidelity(double... mse) {
        return java.util.Arrays.stream(mse).mapToObj(x -> {
            JsonObject f = new JsonObject();
            f.addProperty("mse", x);
            JsonObject o = new JsonObject();
            o.addProperty("overall", 0.5);
            o.add("fidelity", f);
            return o;
        }).toList();
    }
}
