package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class EvaluationTest {
    @Test
    void everyImageOfEverySeedBaseHasItsOwnNoiseSeed() {
        Set<Long> seen = new HashSet<>();
        for (long base : new long[] {0, 1000, 2000}) {
            for (int prompt = 0; prompt < 600; prompt++) {
                for (int k = 0; k < 8; k++) {
                    assertTrue(seen.add(Evaluation.imageSeed(base, prompt, k)), "base " + base + " prompt " + prompt + " image " + k);
                }
            }
        }
        assertEquals(1003, Evaluation.imageSeed(1000, 0, 3), "the first prompt keeps seeds base .. base + K - 1");
    }

    @Test
    void theSamePromptTwiceDrawsTwoDifferentImages() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = ShapesModel.random(TinyTrainerTest.MICRO, m, 5, true);
            Prompt p = new Prompt(Category.SINGLE_OBJECT, "a circle");
            Evaluation.Options o = Evaluation.Options.defaults().toBuilder().seeds(1).seedBase(0).steps(2).guidance(4f)
                    .batch(2).build();
            List<Image> images = Evaluation.run(model, List.of(p, p), o, null).images();
            assertTrue(Fidelity.mse(images.get(0), images.get(1)) > 1e-6, "one noise per image, not per seed index");
            List<Image> again = Evaluation.run(model, List.of(p, p), o, null).images();
            assertEquals(0.0, Fidelity.mse(images.get(1), again.get(1)), "deterministic");
        }
    }

    @Test
    void defaultsAndTheBuilderKeepEveryField() {
        Evaluation.Options d = Evaluation.Options.defaults();
        assertEquals(4, d.seeds());
        assertEquals(0, d.seedBase());
        assertEquals(ShapesModel.DEFAULT_STEPS, d.steps());
        assertEquals(ShapesModel.DEFAULT_GUIDANCE, d.guidance());
        assertEquals(16, d.batch());
        assertNull(d.saveImages());
        assertEquals(d, d.toBuilder().build());
        assertEquals(1000, d.toBuilder().seedBase(1000).build().seedBase());
        assertThrows(IllegalArgumentException.class, () -> d.toBuilder().batch(0).build(), "build() validates");
    }
}
