package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.model.Replacement;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The options' registry: one kebab-case name each, the defaults of the method, and the saved form old and new. */
class PruneOptionsTest {
    /** The options of a state written before the one spelling: the main job's own, as saved. */
    static final String SNAKE_CASE_STATE = """
            {"ratio": 0.2, "importance": "fd-align", "importance_from": null, "order": "importance", "mode": "linear",
             "sandwich_training": true, "sandwich_width": 3, "calib_prompts": 64, "calib_steps": 10, "st_steps": 150,
             "lr": 0.001, "linear_lr": 1.0E-4, "lora_rank": 2, "lora_alpha": 2.0, "seed": 0}""";

    @Test
    void everyOptionHasOneKebabCaseNameAndHelp() {
        Set<String> names = new HashSet<>();
        for (Option<?> o : JobOptions.ALL) {
            assertTrue(o.name().matches("[a-z][a-z0-9]*(-[a-z0-9]+)*"), o.name());
            assertTrue(names.add(o.name()), "defined twice: " + o.name());
            assertFalse(o.help().isBlank(), o.name());
            assertEquals(o.required(), o.defaultValue() == null && o.defaultText().isEmpty(), o.name());
        }
        assertTrue(JobOptions.ALL.containsAll(PruneOptions.ALL));
    }

    @Test
    void theDefaultsAreTheMethods() {
        PruneOptions d = PruneOptions.defaults(0.2);
        assertEquals(0.2, d.ratio());
        assertEquals(ImportanceScorer.FD_ALIGN, d.importance());
        assertNull(d.importanceFrom());
        assertEquals(PruneOptions.Order.IMPORTANCE, d.order());
        assertEquals(Replacement.Mode.LINEAR, d.mode());
        assertTrue(d.sandwichTraining());
        assertEquals(3, d.sandwichWidth());
        assertEquals(64, d.calibPrompts());
        assertEquals(10, d.calibSteps());
        assertEquals(150, d.stSteps());
        assertEquals(1e-3, d.lr());
        assertEquals(1e-4, d.linearLr());
        assertEquals(2, d.loraRank());
        assertEquals(2f, d.loraAlpha());
        assertEquals(256L << 20, d.bufferBytes());
        assertEquals(0, d.seed());
    }

    @Test
    void theJobsSandwichTrainerGetsTheMethodsValuesUnchanged() {
        Path spill = Path.of("/runs/out");
        // what PruneJob passed the trainer field by field: 16 pairs a batch, no weight decay, clip 1
        assertEquals(new SandwichTrainer.Options(3, 2, 2f, 150, 16, 1e-3, 1e-4, 0.0, 1.0, 256L << 20, spill, 5, 256L << 20, 8L << 30, 0),
                SandwichTrainer.Options.of(PruneOptions.defaults(0.2), spill, 5));
    }

    @Test
    void aValueOutOfRangeIsNamedAndNeverSet() {
        PruneOptions d = PruneOptions.defaults(0.2);
        assertEquals("ratio must be a fraction in (0, 1), got 1.5",
                assertThrows(IllegalArgumentException.class, () -> d.with(PruneOptions.RATIO, 1.5)).getMessage());
        assertEquals("sandwich width must be 1, 3 or 5, got 4",
                assertThrows(IllegalArgumentException.class, () -> d.with(PruneOptions.SANDWICH, 4)).getMessage());
        assertEquals("unknown order 'middle-out' (importance, start2end, end2start)",
                assertThrows(IllegalArgumentException.class, () -> PruneOptions.ORDER.parse("middle-out")).getMessage());
        assertEquals("unknown importance metric 'x' (fd-align, output-mse)",
                assertThrows(IllegalArgumentException.class, () -> d.with(PruneOptions.IMPORTANCE, "x")).getMessage());
        assertThrows(IllegalArgumentException.class, () -> PruneOptions.defaults(0));
        assertEquals("'1e' is not a number", assertThrows(IllegalArgumentException.class, () -> PruneOptions.LR.parse("1e")).getMessage());
        assertEquals(0.2, d.ratio(), "unchanged");
    }

    @Test
    void theSavedFormRoundTripsAndEveryValueParsesBackFromItsText() {
        PruneOptions o = PruneOptions.defaults(0.37).with(PruneOptions.IMPORTANCE, ImportanceScorer.OUTPUT_MSE)
                .with(PruneOptions.IMPORTANCE_FROM, Path.of("/runs/a/importance.json")).with(PruneOptions.ORDER, PruneOptions.Order.END2START)
                .with(PruneOptions.MODE, Replacement.Mode.DELETE).with(PruneOptions.SANDWICH_TRAINING, false)
                .with(PruneOptions.SANDWICH, 5).with(PruneOptions.CALIB_PROMPTS, 7).with(PruneOptions.CALIB_STEPS, 3)
                .with(PruneOptions.ST_STEPS, 0).with(PruneOptions.LR, 3e-3).with(PruneOptions.LINEAR_LR, 0.0)
                .with(PruneOptions.LORA_RANK, 8).with(PruneOptions.LORA_ALPHA, 0.3f).with(PruneOptions.BUFFER_BYTES, 0L)
                .with(PruneOptions.SEED, 12L);
        JsonObject json = o.toJson();
        assertEquals(PruneOptions.ALL.stream().map(Option::name).toList(), List.copyOf(json.keySet()));
        assertEquals(o, PruneOptions.fromJson(JsonParser.parseString(json.toString()).getAsJsonObject()));
        assertEquals(List.of(), PruneOptions.differences(JsonParser.parseString(json.toString()).getAsJsonObject(), json));
        for (Option<?> opt : PruneOptions.ALL) assertTextRoundTrip(opt, o);
    }

    private static <T> void assertTextRoundTrip(Option<T> opt, PruneOptions o) {
        T v = o.get(opt);
        if (v != null) assertEquals(v, opt.parse(opt.format(v)), opt.name());
    }

    @Test
    void aStateSavedInSnakeCaseComparesEqualToTheSameOptionsAndNamesADifferenceInTodaysSpelling() {
        JsonObject old = JsonParser.parseString(SNAKE_CASE_STATE).getAsJsonObject();
        PruneOptions d = PruneOptions.defaults(0.2);
        assertEquals(d, PruneOptions.fromJson(old));
        // buffer-bytes moves pairs between memory and disk, not their values: not part of the comparison
        assertEquals(List.of(), PruneOptions.differences(old, d.toJson()));
        assertEquals(List.of(), PruneOptions.differences(old, d.with(PruneOptions.BUFFER_BYTES, 1L << 20).toJson()));
        assertEquals(List.of("sandwich 3, now 5"), PruneOptions.differences(old, d.with(PruneOptions.SANDWICH, 5).toJson()));
        assertEquals(List.of("lora-alpha 2.0, now 0.3"), PruneOptions.differences(old, d.with(PruneOptions.LORA_ALPHA, 0.3f).toJson()));
        JsonObject withFile = old.deepCopy();
        withFile.addProperty("calib_file", "/data/calib.safetensors");
        withFile.addProperty("calib_tokens", 12);
        JsonObject now = d.toJson();
        now.addProperty("calib-file", "/data/calib.safetensors");
        now.addProperty("calib-tokens", 12);
        assertEquals(List.of(), PruneOptions.differences(withFile, now));
        assertEquals(List.of("calib-file \"/data/calib.safetensors\", now (absent)", "calib-tokens 12, now (absent)"),
                PruneOptions.differences(withFile, d.toJson()));
        // a state from before an option existed differs from a run that sets it: it ran without it
        JsonObject noLinearRate = old.deepCopy();
        noLinearRate.remove("linear_lr");
        assertEquals(List.of("linear-lr (absent), now 1.0E-4"), PruneOptions.differences(noLinearRate, d.toJson()));
    }

    @Test
    void aFloatKeepsItsOwnDigitsThroughJson() {
        PruneOptions o = PruneOptions.defaults(0.2).with(PruneOptions.LORA_ALPHA, 0.3f);
        JsonObject back = JsonParser.parseString(o.toJson().toString()).getAsJsonObject();
        assertEquals(List.of(), PruneOptions.differences(back, o.toJson()));
        assertEquals(0.3f, PruneOptions.fromJson(back).loraAlpha());
    }
}
