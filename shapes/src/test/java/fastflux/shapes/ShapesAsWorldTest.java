package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import fastflux.model.FluxParams;
import fastflux.world.World;
import fastflux.world.Worlds;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Shapes model seen through the method's {@link World} interface. */
class ShapesAsWorldTest {
    private static final FluxParams TINY =
            new FluxParams(48, 48, 64, 64, 32, 2.0, 2, 1, 2, new int[] {4, 6, 6}, 10000, true, false);

    @Test
    void aPromptsCategoryReadFromItsTextIsTheGrammarsOwn() {
        for (Prompt p : PromptSets.sample(2000, 17)) assertEquals(p, Prompt.of(p.text()), p.text());
        for (Prompt p : PromptFile.dev()) assertEquals(p, Prompt.of(p.text()), p.text());
    }

    @Test
    void alignmentAndItsMeanAreTheJudgesVerdictAndGenEvalsOverallScore() {
        List<Prompt> prompts = PromptSets.sample(40, 3);
        List<String> texts = prompts.stream().map(Prompt::text).toList();
        List<Image> images = prompts.stream().map(p -> ShapesWorld.render(ShapesWorld.sceneFor(p.spec(), new java.util.SplittableRandom(5)))).toList();
        try (NDManager m = NDManager.newBaseManager()) {
            World<Image> world = ShapesModel.random(TINY, m, 1);
            double[] a = world.alignment(texts, images);
            EvalReport report = new EvalReport();
            for (int i = 0; i < images.size(); i++) {
                assertEquals(Judge.correct(texts.get(i), images.get(i)) ? 1.0 : 0.0, a[i]);
                report.add(prompts.get(i), images.get(i));
            }
            assertEquals(report.overall(), world.meanAlignment(texts, a));
            assertEquals(FrechetDistance.FEATURE_DIM, world.features(images.get(0)).length);
            assertEquals(world.featureDim(), world.referenceFeatures(3, 9)[2].length);
        }
    }

    @Test
    void heldOutPromptsAvoidTheGivenOnesAndRepeatForTheSameSeed() {
        try (NDManager m = NDManager.newBaseManager()) {
            World<Image> world = ShapesModel.random(TINY, m, 1);
            List<String> training = world.samplePrompts(30, 4);
            List<String> held = world.heldOutPrompts(training, 10, 8);
            assertEquals(10, held.size());
            for (String p : held) assertFalse(training.contains(p), p);
            assertEquals(held, world.heldOutPrompts(training, 10, 8));
            assertThrows(IllegalArgumentException.class, () -> world.heldOutPrompts(training, 0, 8));
        }
    }

    @Test
    void aShapesDirectoryOpensAsAWorldAndABareTransformerDoesNot(@TempDir Path tmp) throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel.random(TINY, m, 1).save(tmp.resolve("shapes"));
            assertTrue(Worlds.open(tmp.resolve("shapes"), m) instanceof ShapesModel);
            Path bare = Path.of(getClass().getResource("/fixtures/flux-tiny-a/config.json").toURI()).getParent();
            assertNull(Worlds.providerOf(bare), "the reference transformer fixture has no text encoder");
        }
    }
}
