package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.stream.JsonReader;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PruneReportTest {
    /** A report whose one replaced block was measured on nothing: a NaN residual and a NaN held-out loss. */
    static JsonObject unmeasured() {
        JsonObject r = new JsonObject();
        r.addProperty("base", "base");
        r.addProperty("out", "out");
        r.addProperty("block_count", 5);
        r.addProperty("replaced_count", 1);
        JsonObject o = new JsonObject();
        o.addProperty("ratio", 0.2);
        o.addProperty("mode", "linear");
        o.addProperty("order", "importance");
        o.addProperty("importance", "output-mse");
        o.addProperty("sandwich-training", true);
        o.addProperty("sandwich", 3);
        r.add("options", o);
        JsonArray order = new JsonArray();
        order.add("single_blocks.1");
        r.add("order", order);
        JsonObject b = new JsonObject();
        b.addProperty("block", "single_blocks.1");
        JsonObject res = new JsonObject();
        res.addProperty("joint", Double.NaN);
        b.add("residuals", res);
        JsonObject t = new JsonObject();
        t.addProperty("up", "single_blocks.0");
        t.addProperty("down", "single_blocks.2");
        t.addProperty("initial_loss", 0.04);
        t.addProperty("final_loss", 0.03);
        t.addProperty("held_out_pairs", 0);
        t.addProperty("held_out_initial_loss", Double.NaN);
        t.addProperty("held_out_final_loss", Double.POSITIVE_INFINITY);
        b.add("training", t);
        JsonArray blocks = new JsonArray();
        blocks.add(b);
        r.add("blocks", blocks);
        JsonObject sec = new JsonObject();
        sec.addProperty("total", 1.0);
        r.add("seconds", sec);
        return r;
    }

    @Test
    void whatWasNotMeasuredIsNullInTheJsonAndNaInTheMarkdown(@TempDir Path tmp) throws Exception {
        PruneReport.write(tmp, unmeasured());
        String json = Files.readString(tmp.resolve("report.json"));
        JsonReader strict = new JsonReader(new StringReader(json));
        strict.setLenient(false);
        JsonElement back = com.google.gson.internal.bind.TypeAdapters.JSON_ELEMENT.read(strict); // refuses NaN
        JsonObject b = back.getAsJsonObject().getAsJsonArray("blocks").get(0).getAsJsonObject();
        assertTrue(b.getAsJsonObject("residuals").get("joint").isJsonNull());
        assertTrue(b.getAsJsonObject("training").get("held_out_final_loss").isJsonNull());
        assertEquals(0.04, b.getAsJsonObject("training").get("initial_loss").getAsDouble());
        String md = Files.readString(tmp.resolve("report.md"));
        assertTrue(md.contains("| single_blocks.1 | joint n/a | single_blocks.0 → single_blocks.2 | 0.04000 → 0.03000 | n/a → n/a |"), md);
        // Written from the parsed file (as `prune` prints it), the markdown is the same.
        assertEquals(md, PruneReport.markdown(JsonParser.parseString(json).getAsJsonObject()));
        assertFalse(md.contains("Residual at or above 1"), "nothing measured, nothing flagged");
    }

    @Test
    void eachTrainedSandwichGetsAChartLinkedFromTheMarkdown(@TempDir Path tmp) throws Exception {
        JsonObject r = unmeasured();
        JsonObject t = r.getAsJsonArray("blocks").get(0).getAsJsonObject().getAsJsonObject("training");
        JsonArray losses = new JsonArray();
        for (double l : new double[] {0.05, 0.045, 0.04, 0.035}) losses.add(l);
        t.add("losses", losses);
        t.addProperty("held_out_pairs", 6);
        t.addProperty("held_out_initial_loss", 0.06);
        t.addProperty("held_out_final_loss", 0.05);
        PruneReport.write(tmp, r);
        String md = Files.readString(tmp.resolve("report.md"));
        assertTrue(md.contains("## Sandwich training"), md);
        assertTrue(md.contains("![single_blocks.1](sandwich-curves/single_blocks.1.png)"), md);
        java.awt.image.BufferedImage png = javax.imageio.ImageIO.read(tmp.resolve("sandwich-curves/single_blocks.1.png").toFile());
        assertEquals(Charts.WIDTH, png.getWidth());
        assertEquals(Charts.HEIGHT, png.getHeight());
        // a report without a held-out curve draws its held-out losses before the first step and after the last
        var held = ((org.jfree.chart.plot.XYPlot) PruneReport.sandwichChart(r.getAsJsonArray("blocks").get(0).getAsJsonObject())
                .getPlot()).getDataset();
        assertEquals(2, held.getItemCount(2));
        assertEquals(4.0, held.getXValue(2, 1));
        assertEquals(0.05, held.getYValue(2, 1));

        // untrained blocks (no losses): no chart and no section
        Path none = tmp.resolve("none");
        PruneReport.write(none, unmeasured());
        assertFalse(Files.readString(none.resolve("report.md")).contains("## Sandwich training"));
        assertFalse(Files.exists(none.resolve("sandwich-curves")));
    }

    @Test
    void aResidualOfOneOrMoreIsFlagged() {
        JsonObject r = withJointResidual(0.999);
        JsonObject b = r.getAsJsonArray("blocks").get(0).getAsJsonObject();
        assertEquals("", PruneReport.overfitted(r.getAsJsonArray("blocks")));
        JsonObject twin = b.deepCopy();
        twin.addProperty("block", "double_blocks.0");
        JsonObject res = new JsonObject();
        res.addProperty("img", 0.4);
        res.addProperty("txt", 1.25);
        twin.add("residuals", res);
        r.getAsJsonArray("blocks").add(twin);
        assertEquals("double_blocks.0/txt 1.250", PruneReport.overfitted(r.getAsJsonArray("blocks")));
        assertTrue(PruneReport.markdown(r).contains("**Residual at or above 1** (double_blocks.0/txt 1.250)"));
        assertFalse(PruneReport.markdown(r).contains("per sampler step"), "none measured per step");
        twin.add("residuals_per_step", perStep("img", 0.9, 0.5));
        twin.add("branch_energy_per_step", perStep("img", 8.5, 1.25));
        assertTrue(PruneReport.markdown(r).contains("| stream | 0 | 1 |\n|---|---|---|\n| double_blocks.0/img residual | 0.900 | 0.500 |\n"
                + "| double_blocks.0/img ‖F‖² | 8.500 | 1.250 |\n"), PruneReport.markdown(r));
    }

    @Test
    void aLinearThatLeavesMostOfTheBranchIsNamedNearlyADeletion() {
        JsonObject r = withJointResidual(0.799);
        assertEquals("", PruneReport.nearlyDeleted(r.getAsJsonArray("blocks")));
        assertFalse(PruneReport.markdown(r).contains("Nearly a deletion"));
        r = withJointResidual(0.894);
        assertEquals("single_blocks.1/joint 0.894", PruneReport.nearlyDeleted(r.getAsJsonArray("blocks")));
        assertEquals("", PruneReport.overfitted(r.getAsJsonArray("blocks")), "below 1: not an overfit");
        assertTrue(PruneReport.markdown(r).contains("**Nearly a deletion** (single_blocks.1/joint 0.894)"));
        r = withJointResidual(1.0);
        assertEquals("", PruneReport.nearlyDeleted(r.getAsJsonArray("blocks")), "1 and above is the overfit flag's");
    }

    /** The unmeasured report with its one block's held-out residual set to {@code v}. */
    private static JsonObject withJointResidual(double v) {
        JsonObject r = unmeasured();
        r.getAsJsonArray("blocks").get(0).getAsJsonObject().getAsJsonObject("residuals").addProperty("joint", v);
        return r;
    }

    /** {stream: [values]}, as report.json holds a per-step series. */
    static JsonObject perStep(String stream, double... values) {
        JsonArray a = new JsonArray();
        for (double v : values) a.add(v);
        JsonObject o = new JsonObject();
        o.add(stream, a);
        return o;
    }
}
