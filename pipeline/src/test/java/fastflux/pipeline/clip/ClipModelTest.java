package fastflux.pipeline.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.pipeline.RgbImage;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link ClipModel} on the clip-tiny-a fixture against Hugging Face {@code CLIPModel} + {@code CLIPProcessor} and
 * torchmetrics' CLIP score, at the fixture README's tolerances.
 */
class ClipModelTest {
    private static NDManager manager;
    private static ClipModel model;

    @BeforeAll
    static void load() {
        manager = NDManager.newBaseManager("PyTorch");
        model = ClipModel.load(ClipTinyA.DIR, manager);
    }

    @AfterAll
    static void close() {
        model.close();
        manager.close();
    }

    @Test
    void inputIdsAreExact() {
        long[][] expected = ClipTinyA.idRows();
        long[][] ids = model.inputIds(ClipTinyA.PROMPTS);
        for (int i = 0; i < 4; i++) assertArrayEquals(expected[i], ids[i], ClipTinyA.PROMPTS.get(i));
        long[] eos = ClipTinyA.longs("text_eos_index");
        for (int i = 0; i < 4; i++) assertEquals(eos[i], ClipTextEncoder.poolIndex(ids[i], model.textEncoder().config()));
    }

    @Test
    void resizeGeometryIsTheReferences() {
        List<RgbImage> images = ClipTinyA.images();
        for (int i = 0; i < 4; i++) {
            assertArrayEquals(ClipTinyA.RESIZED[i], model.imageProcessor().resizedSize(images.get(i)), "image " + i);
        }
    }

    @Test
    void pixelValuesFromThePngsMatchPillowsBicubic() {
        float[][] pixels = model.pixelValues(ClipTinyA.images());
        float[][] expected = ClipTinyA.rows("pixel_values", 4);
        float err = ClipTinyA.maxAbsDiff(pixels, expected);
        System.out.printf("clip-tiny-a pixel_values from the PNGs: max abs error %.3g%n", err);
        assertTrue(err <= 1e-3, "the issue's 1e-3: " + err);
        assertTrue(err <= 1e-6, "a faithful port of Pillow's bicubic reaches 1e-6: " + err);
    }

    @Test
    void embeddingsFromTheStoredInputsMatch() {
        float[][] pixels = ClipTinyA.rows("pixel_values", 4);
        long[][] ids = ClipTinyA.idRows();
        float visionPooled = ClipTinyA.maxAbsDiff(model.visionPooled(pixels), ClipTinyA.rows("vision_pooled", 4));
        float textPooled = ClipTinyA.maxAbsDiff(model.textPooled(ids), ClipTinyA.rows("text_pooled", 4));
        float image = ClipTinyA.maxAbsDiff(model.imageEmbedsFromPixels(pixels), ClipTinyA.rows("image_embeds", 4));
        float text = ClipTinyA.maxAbsDiff(model.textEmbedsFromIds(ids), ClipTinyA.rows("text_embeds", 4));
        System.out.printf("clip-tiny-a max abs errors: vision_pooled %.3g, text_pooled %.3g, image_embeds %.3g, "
                + "text_embeds %.3g%n", visionPooled, textPooled, image, text);
        assertTrue(visionPooled < 1e-4, "vision_pooled " + visionPooled);
        assertTrue(textPooled < 1e-4, "text_pooled " + textPooled);
        assertTrue(image < 1e-4, "image_embeds " + image);
        assertTrue(text < 1e-4, "text_embeds " + text);
    }

    @Test
    void visionHiddenStatesMatch() {
        float[] pixels = ClipTinyA.floats("pixel_values");
        try (NDManager m = manager.newSubManager();
             ClipVisionEncoder.Output out = model.visionEncoder().forward(m.create(pixels, new Shape(4, 3, 32, 32)))) {
            assertEquals(new Shape(4, 17, 32), out.hidden().getShape());
            assertEquals(new Shape(4, 32), out.pooled().getShape());
            float hidden = ClipFixture.maxAbsDiff(out.hidden().toFloatArray(), ClipTinyA.floats("vision_hidden"));
            System.out.printf("clip-tiny-a vision_hidden max abs error %.3g%n", hidden);
            assertTrue(hidden < 1e-4, "vision_hidden " + hidden);
        }
    }

    @Test
    void scoresMatchTorchmetrics() {
        float[][] img = model.imageEmbedsFromPixels(ClipTinyA.rows("pixel_values", 4));
        float[][] txt = model.textEmbedsFromIds(ClipTinyA.idRows());
        double[][] cos = new double[4][4];
        double[][] logits = new double[4][4];
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
                double dot = 0;
                for (int k = 0; k < img[i].length; k++) dot += img[i][k] * txt[j][k];
                cos[i][j] = dot;
                logits[i][j] = model.logitScaleExp() * dot;
            }
        }
        double[][] matrix = ClipModel.clipScoreMatrix(img, txt);
        float[] expectedPairs = ClipTinyA.floats("clip_score");
        double pairs = 0, mean = 0;
        for (int i = 0; i < 4; i++) {
            double s = ClipModel.clipScore(img[i], txt[i]);
            pairs = Math.max(pairs, Math.abs(s - expectedPairs[i]));
            mean += 100 * cos[i][i] / 4;
        }
        double cosErr = ClipTinyA.maxAbsDiff(cos, ClipTinyA.rows("cosine_matrix", 4));
        double logitErr = ClipTinyA.maxAbsDiff(logits, ClipTinyA.rows("logits_per_image", 4));
        double matrixErr = ClipTinyA.maxAbsDiff(matrix, ClipTinyA.rows("clip_score_matrix", 4));
        double torchmetrics = Math.abs(Math.max(mean, 0) - ClipTinyA.floats("clip_score_torchmetrics")[0]);
        System.out.printf("clip-tiny-a max abs errors: cosine_matrix %.3g, logits_per_image %.3g, clip_score %.3g, "
                + "clip_score_matrix %.3g, clip_score_torchmetrics %.3g%n", cosErr, logitErr, pairs, matrixErr, torchmetrics);
        assertTrue(cosErr < 1e-4, "cosine_matrix " + cosErr);
        assertTrue(logitErr < 2e-3, "logits_per_image " + logitErr);
        assertTrue(pairs < 1e-2, "clip_score " + pairs);
        assertTrue(matrixErr < 1e-2, "clip_score_matrix " + matrixErr);
        assertTrue(torchmetrics < 1e-2, "clip_score_torchmetrics " + torchmetrics);
        assertEquals(0.0, ClipModel.clipScore(img[3], txt[3]), "pair 3's cosine is negative: its score is 0");
    }

    @Test
    void endToEndFromPngsAndPrompts() {
        float[][] img = model.imageEmbeds(ClipTinyA.images());
        float[][] txt = model.textEmbeds(ClipTinyA.PROMPTS);
        assertEquals(24, model.projectionDim());
        assertEquals(24, img[0].length);
        float image = ClipTinyA.maxAbsDiff(img, ClipTinyA.rows("image_embeds", 4));
        float text = ClipTinyA.maxAbsDiff(txt, ClipTinyA.rows("text_embeds", 4));
        System.out.printf("clip-tiny-a end to end (PNGs, prompts): image_embeds %.3g, text_embeds %.3g%n", image, text);
        assertTrue(image < 1e-4, "image_embeds " + image);
        assertTrue(text < 1e-4, "text_embeds " + text);
    }

    @Test
    void batchesLargerThanOneForwardGiveTheSameRows() {
        // 40 images and prompts span three vision batches and two text batches.
        List<RgbImage> images = ClipTinyA.images();
        List<String> prompts = ClipTinyA.PROMPTS;
        RgbImage[] many = new RgbImage[40];
        String[] manyPrompts = new String[40];
        for (int i = 0; i < 40; i++) {
            many[i] = images.get(i % 4);
            manyPrompts[i] = prompts.get(i % 4);
        }
        float[][] img = model.imageEmbeds(List.of(many));
        float[][] txt = model.textEmbeds(List.of(manyPrompts));
        float[][] expectedImg = ClipTinyA.rows("image_embeds", 4);
        float[][] expectedTxt = ClipTinyA.rows("text_embeds", 4);
        for (int i = 0; i < 40; i++) {
            assertTrue(ClipFixture.maxAbsDiff(img[i], expectedImg[i % 4]) < 1e-4, "image row " + i);
            assertTrue(ClipFixture.maxAbsDiff(txt[i], expectedTxt[i % 4]) < 1e-4, "text row " + i);
        }
        assertEquals(0, model.imageEmbeds(List.of()).length);
    }
}
