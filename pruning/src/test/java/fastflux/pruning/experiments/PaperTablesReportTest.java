package fastflux.pruning.experiments;

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
