package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import fastflux.model.FluxParams;
import fastflux.model.Param;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TinyTrainerTest {
    /** A micro Shapes config: 48-channel patches, 1 double + 2 single blocks. */
    static final FluxParams MICRO = new FluxParams(48, 48, 32, 32, 32, 2.0, 2, 1, 2, new int[] {4, 6, 6}, 10_000, true, false);

    /** Small batches, constant learning rate after warm-up, no validation, t centred on 0.5, no context window. */
    static TinyTrainer.Options options() {
        return TinyTrainer.Options.defaults().toBuilder().batch(4).lr(1e-3).warmup(2).weightDecay(0.01).clip(1.0)
                .emaDecay(0.9).promptDropout(0.2).seed(7).checkpointEvery(3).totalSteps(0).decayFraction(0).validation(0, 0)
                .timeShift(0).textContext(false).build();
    }

    @Test
    void resumeContinuesBitIdentically(@TempDir Path tmp) {
        List<Float> straight;
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.fresh(MICRO, options().toBuilder().timeShift(0.5).build(), m);
            t.train(6, 0, null, null);
            straight = new ArrayList<>(t.losses());
        }
        Path ckpt = tmp.resolve("ckpt");
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.fresh(MICRO, options().toBuilder().timeShift(0.5).build(), m);
            t.train(3, 0, ckpt, null); // checkpoints at step 3
        }
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.resume(ckpt, m);
            assertEquals(3, t.step());
            t.train(6, 0, null, null);
            assertEquals(straight, t.losses(), "the resumed run repeats the uninterrupted run's losses exactly");
        }
        assertEquals(6, straight.size());
        assertTrue(straight.stream().allMatch(Float::isFinite));
    }

    @Test
    void timeShiftMovesTheNoiseLevelsAndSurvivesResume(@TempDir Path tmp) throws Exception {
        assertEquals(0.5, TinyTrainer.noiseLevel(0, 0), 1e-12);
        double mu = fastflux.sampling.Schedule.mu(Latents.TOKENS);
        assertEquals(mu, TinyTrainer.Options.defaults().timeShift(), 1e-12, "new runs train at the sampler's shift");
        // sigmoid(mu + z) is the schedule's own map t -> e^mu / (e^mu + 1/t - 1) applied to sigmoid(z)
        double t = TinyTrainer.noiseLevel(0.3, 0);
        assertEquals(Math.exp(mu) / (Math.exp(mu) + 1 / t - 1), TinyTrainer.noiseLevel(0.3, mu), 1e-12);

        List<Float> centred, shifted;
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer a = TinyTrainer.fresh(MICRO, options(), m);
            a.train(2, 0, null, null);
            centred = new ArrayList<>(a.losses());
            TinyTrainer b = TinyTrainer.fresh(MICRO, options().toBuilder().timeShift(1.5).build(), m);
            b.train(2, 0, tmp, null);
            shifted = new ArrayList<>(b.losses());
        }
        assertNotEquals(centred, shifted, "the same batches at other noise levels");
        try (NDManager m = NDManager.newBaseManager()) {
            assertEquals(1.5, TinyTrainer.resume(tmp, m).options().timeShift());
        }
        // a state file written before the option has no field: it reads as the centred t it was trained with
        Path json = tmp.resolve("train-state.json");
        Files.writeString(json, Files.readString(json).replaceFirst(",\"timeShift\":1\\.5", ""));
        assertFalse(Files.readString(json).contains("timeShift"));
        try (NDManager m = NDManager.newBaseManager()) {
            assertEquals(0.0, TinyTrainer.resume(tmp, m).options().timeShift());
        }
    }

    @Test
    void theTextContextWindowIsTrainedCheckpointedAndResumedExactly(@TempDir Path tmp) throws Exception {
        assertTrue(TinyTrainer.Options.defaults().textContext(), "new runs have the window");
        TinyTrainer.Options o = options().toBuilder().timeShift(0.5).textContext(true).build();
        List<Float> straight;
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.fresh(MICRO, o, m);
            String fc2 = TextEncoder.PREFIX + "context.fc2.weight";
            assertEquals(0f, t.model().params().get(fc2).value().abs().max().getFloat(), "fc2 starts at zero");
            t.train(6, 0, null, null);
            straight = new ArrayList<>(t.losses());
            assertTrue(t.model().params().get(fc2).value().abs().max().getFloat() > 0, "and is trained");
        }
        Path ckpt = tmp.resolve("ckpt");
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer.fresh(MICRO, o, m).train(3, 0, ckpt, null);
            assertTrue(ShapesModel.load(ckpt, m).text().hasContextWindow());
        }
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.resume(ckpt, m);
            assertTrue(t.options().textContext());
            t.train(6, 0, null, null);
            assertEquals(straight, t.losses(), "the resumed run repeats the uninterrupted run's losses exactly");
        }
        // a state file written before the option has no field: it reads as the plain encoder it was trained with
        String json = Files.readString(ckpt.resolve("train-state.json"));
        com.google.gson.JsonObject opts = com.google.gson.JsonParser.parseString(json).getAsJsonObject().getAsJsonObject("options");
        opts.remove("textContext");
        assertFalse(TinyTrainer.Options.fromJson(opts).textContext());
    }

    @Test
    void checkpointIsALoadableModelWithTheEmaWeights(@TempDir Path tmp) {
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.fresh(MICRO, options(), m);
            t.train(3, 0, tmp, null);
            assertTrue(Files.isRegularFile(tmp.resolve("model.safetensors")));
            ShapesModel loaded = ShapesModel.load(tmp, m);
            Map<String, Param> raw = t.model().params();
            // EMA lags the raw weights, so at least one tensor differs after a few steps.
            boolean anyDiffers = false;
            for (var e : loaded.params().entrySet()) {
                float[] a = e.getValue().value().toFloatArray();
                float[] b = raw.get(e.getKey()).value().toFloatArray();
                if (!java.util.Arrays.equals(a, b)) anyDiffers = true;
            }
            assertTrue(anyDiffers);
        }
    }

    @Test
    void halfWrittenStateIsRefused(@TempDir Path tmp) throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.fresh(MICRO, options(), m);
            t.train(3, 0, tmp, null);
        }
        // Simulate a crash between the tensors and the JSON: the JSON claims another step.
        Path json = tmp.resolve("train-state.json");
        Files.writeString(json, Files.readString(json).replaceFirst("\"step\":3", "\"step\":5"));
        try (NDManager m = NDManager.newBaseManager()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TinyTrainer.resume(tmp, m));
            assertTrue(e.getMessage().contains("half-written"), e.getMessage());
        }
    }

    static TinyTrainer.Options validated() {
        return options().toBuilder().totalSteps(6).decayFraction(0.5).validation(2, 6).build();
    }

    @Test
    void learningRateWarmsUpHoldsThenDecaysToZero() {
        TinyTrainer.Options o = options().toBuilder().warmup(10).totalSteps(100).decayFraction(0.4).build();
        assertEquals(1e-4, o.lrAt(0), 1e-12);
        assertEquals(1e-3, o.lrAt(9), 1e-12);
        assertEquals(1e-3, o.lrAt(59), 1e-12);
        assertEquals(0.5e-3, o.lrAt(80), 1e-12, "half-way through the decay the cosine is at half");
        assertTrue(o.lrAt(99) < 1e-5);
        assertEquals(0.0, o.lrAt(100), 1e-12);
        assertEquals(1e-3, options().lrAt(1000), 1e-12, "no decay configured: constant");
    }

    @Test
    void validationPromptsAreEvaluationFormsEvenAcrossCategories() {
        List<Prompt> ps = TinyTrainer.validationPrompts(60);
        assertEquals(60, ps.size());
        for (Category c : Category.values()) {
            assertEquals(10, ps.stream().filter(p -> p.category() == c).count(), c.toString());
        }
        assertTrue(ps.stream().allMatch(p -> PromptGrammar.isEvaluationForm(p.text())));
        assertEquals(ps, TinyTrainer.validationPrompts(60), "deterministic");
        assertFalse(PromptGrammar.isEvaluationForm("two red circles"));
        assertFalse(PromptGrammar.isEvaluationForm("a red circle left of a blue square"));
        assertTrue(PromptGrammar.isEvaluationForm("three circles"));
    }

    @Test
    void modelFilesHoldTheBestValidatedEmaAndResumeStaysExact(@TempDir Path tmp) {
        List<Float> straight;
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.fresh(MICRO, validated(), m);
            t.train(6, 0, null, null); // no output directory: no validation
            straight = new ArrayList<>(t.losses());
        }
        Path ckpt = tmp.resolve("ckpt");
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.fresh(MICRO, validated(), m);
            t.train(4, 0, ckpt, null);
            assertEquals(List.of(2L, 4L), t.validations().stream().map(TinyTrainer.Validation::step).toList());
            // The model files are the best validated EMA model: re-validating it gives the best score.
            ShapesModel saved = ShapesModel.load(ckpt, m);
            EvalReport r = Evaluation.run(saved, TinyTrainer.validationPrompts(6), Evaluation.Options.defaults()
                    .toBuilder().seeds(1).seedBase(TinyTrainer.VALIDATION_IMAGE_SEED).steps(ShapesModel.DEFAULT_STEPS)
                    .guidance(ShapesModel.DEFAULT_GUIDANCE).batch(32).build(), null).report();
            assertEquals(t.best().overall(), r.overall(), 1e-9);
        }
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.resume(ckpt, m);
            assertEquals(4, t.step());
            assertEquals(2, t.validations().size(), "the validation history is part of the state");
            t.train(6, 0, null, null);
            assertEquals(straight, t.losses(), "validation does not disturb the training sequence");
        }
    }

    @Test
    void timeBudgetedRunFixesItsStepBudgetAndEndsInTheDecay() {
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer.Options auto = options().toBuilder().decayFraction(0.5).build();
            TinyTrainer t = TinyTrainer.fresh(MICRO, auto, m);
            assertEquals(Long.MAX_VALUE, t.options().decayStart(), "no budget yet: no decay");
            t.train(0, 0.02, null, null); // 1.2 s of training
            long total = t.options().totalSteps();
            assertTrue(total >= 1, "the step budget was fixed during the run");
            assertTrue(t.step() <= total, t.step() + " steps taken, budget " + total);
            assertTrue(t.options().decayStart() <= total);
        }
    }

    @Test
    void theBuilderKeepsEveryFieldAndValidates() {
        TinyTrainer.Options d = TinyTrainer.Options.defaults();
        assertEquals(d, d.toBuilder().build());
        assertEquals(d.toJson(), TinyTrainer.Options.fromJson(d.toJson()).toJson());
        TinyTrainer.Options o = d.toBuilder().totalSteps(50).timeShift(0.25).build();
        assertEquals(50, o.totalSteps());
        assertEquals(0.25, o.timeShift());
        assertEquals(d, o.toBuilder().totalSteps(d.totalSteps()).timeShift(d.timeShift()).build());
        assertThrows(IllegalArgumentException.class, () -> d.toBuilder().validation(1, 2).build(), "build() validates");
    }
}
