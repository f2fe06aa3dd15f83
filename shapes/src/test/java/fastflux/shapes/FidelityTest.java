package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class FidelityTest {
    static final List<Prompt> PROMPTS = List.of(new Prompt(Category.SINGLE_OBJECT, "a circle"),
            new Prompt(Category.COLORS, "a red square"));

    /** A black image with the first {@code n} channel values set to 1. */
    static Image lit(int n) {
        float[] v = new float[Image.LENGTH];
        for (int i = 0; i < n; i++) v[i] = 1f;
        return new Image(v);
    }

    @Test
    void pairsAreComparedInOrderAndAveragedPerCategory() {
        // 2 prompts x 2 seeds: the reference is black; the images differ in 0, 30, 300 and 3072 values
        List<Image> ref = List.of(Image.black(), Image.black(), Image.black(), Image.black());
        List<Image> img = List.of(lit(0), lit(30), lit(300), lit(Image.LENGTH));
        Fidelity f = Fidelity.of(PROMPTS, 2, ref, img);
        double[] e = {0, 30.0 / Image.LENGTH, 300.0 / Image.LENGTH, 1};
        assertEquals((e[0] + e[1] + e[2] + e[3]) / 4, f.mse(), 1e-12);
        assertEquals((e[0] + e[1]) / 2, f.categories().get(Category.SINGLE_OBJECT), 1e-12);
        assertEquals((e[2] + e[3]) / 2, f.categories().get(Category.COLORS), 1e-12);
        assertEquals(10 * Math.log10(1 / f.mse()), f.psnrDb(), 1e-9);
        // 0 and 30/3072 ≈ 0.0098 … only the identical pair is under the 0.002 threshold
        assertEquals(0.25, f.same(), 1e-12);
        assertEquals(4, f.images());
        assertEquals(f.mse(), f.toJson("ref").get("mse").getAsDouble(), 0);
        assertEquals("ref", f.toJson("ref").get("reference").getAsString());
    }

    @Test
    void identicalModelsHaveZeroErrorAndEveryPairTheSame() {
        List<Image> a = List.of(lit(5), lit(7), lit(9), lit(11));
        Fidelity f = Fidelity.of(PROMPTS, 2, a, a);
        assertEquals(0, f.mse());
        assertEquals(1, f.same());
        assertTrue(f.toJson("x").get("psnr_db").isJsonNull()); // infinite: written as null, JSON has no infinity
    }

    @Test
    void listsThatDoNotMatchThePromptsAreRefusedWithTheCounts() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Fidelity.of(PROMPTS, 2, List.of(Image.black()), List.of(Image.black(), Image.black(), Image.black(), Image.black())));
        assertTrue(e.getMessage().contains("needs 4 images") && e.getMessage().contains("got 1 reference and 4"), e.getMessage());
    }
}
