package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

class EvalReportTest {
    @Test
    void overallIsTheMeanOfPresentCategoriesAndAbsentOnesAreNull() {
        EvalReport r = new EvalReport();
        r.add(Category.COUNTING, true);
        r.add(Category.COUNTING, false);
        r.add(Category.COUNTING, false);
        r.add(Category.COUNTING, false);
        r.add(Category.COLORS, true);
        r.setFd(12.5);
        assertEquals(0.25, r.score(Category.COUNTING));
        assertEquals(1.0, r.score(Category.COLORS));
        assertNull(r.score(Category.POSITION));
        assertEquals((0.25 + 1.0) / 2, r.overall(), 1e-12, "per-category mean, not per-image");
        assertEquals(5, r.images());

        JsonObject json = JsonParser.parseString(r.toJson()).getAsJsonObject();
        assertEquals(0.625, json.get("overall").getAsDouble(), 1e-12);
        assertEquals(12.5, json.get("fd").getAsDouble());
        assertEquals(5, json.get("images").getAsInt());
        JsonObject cats = json.getAsJsonObject("categories");
        assertEquals(6, cats.size());
        assertTrue(cats.get("position").isJsonNull());
        assertEquals(0.25, cats.get("counting").getAsDouble());
    }

    @Test
    void verdictsAreAlsoTalliedPerPromptInTheOrderJudged() {
        EvalReport r = new EvalReport();
        Prompt four = new Prompt(Category.COUNTING, "four red triangles");
        Prompt circle = new Prompt(Category.SINGLE_OBJECT, "a circle");
        r.add(four, false);
        r.add(circle, true);
        r.add(four, true);
        r.add(four, false);
        assertEquals(1.0 / 3, r.score(Category.COUNTING), 1e-12);
        var prompts = JsonParser.parseString(r.toJson()).getAsJsonObject().getAsJsonArray("prompts");
        assertEquals(2, prompts.size());
        JsonObject first = prompts.get(0).getAsJsonObject();
        assertEquals("counting", first.get("category").getAsString());
        assertEquals("four red triangles", first.get("prompt").getAsString());
        assertEquals(1, first.get("correct").getAsInt());
        assertEquals(3, first.get("images").getAsInt());
        assertEquals(1, prompts.get(1).getAsJsonObject().get("correct").getAsInt());
    }

    @Test
    void emptyReport() {
        EvalReport r = new EvalReport();
        assertNull(r.overall());
        JsonObject json = JsonParser.parseString(r.toJson()).getAsJsonObject();
        assertTrue(json.get("overall").isJsonNull());
        assertTrue(json.get("fd").isJsonNull());
    }
}
