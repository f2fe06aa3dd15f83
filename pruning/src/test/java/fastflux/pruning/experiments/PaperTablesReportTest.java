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
        PaperTablesReport.Stat d = PaperTablesReport.pairedDifference(a, b);
        assertEquals(3, d.n());
        assertEquals(0.08 / 3, d.mean(), 1e-12);
        assertEquals(Math.sqrt((Math.pow(0.05 - 0.08 / 3, 2) + Math.pow(0.02 - 0.08 / 3, 2) + Math.pow(0.01 - 0.08 / 3, 2)) / 2), d.sd(), 1e-12);
        StringBuilder md = new StringBuilder();
        PaperTablesReport.target(md, "t", Map.of("x", a, "y", b), "x", "y");
        assertTrue(md.toString().contains("unpaired **does not hold**"), md.toString());
        assertTrue(md.toString().contains("paired by seed base: difference 0.027 ± 0.021, **holds**"), md.toString());
        md.setLength(0);
        PaperTablesReport.target(md, "t", Map.of("x", b, "y", a), "x", "y");
        assertTrue(md.toString().contains("paired by seed base: difference -0.027 ± 0.021, **does not hold**"), md.toString());
    }
}
