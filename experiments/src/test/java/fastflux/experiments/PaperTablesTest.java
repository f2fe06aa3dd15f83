package fastflux.experiments;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonParser;
import fastflux.checkpoints.AtomicFiles;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.Replacement;
import fastflux.pruning.ImportanceScorer;
import fastflux.pruning.PruneJob;
import fastflux.pruning.PruneOptions;
import fastflux.shapes.Category;
import fastflux.shapes.Prompt;
import fastflux.shapes.ShapesModel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A micro run of the paper tables on a tiny random model: the report, the cache, the second run's skips. */
class PaperTablesTest {
    static final FluxParams PARAMS =
            new FluxParams(48, 48, 64, 64, 32, 2.0, 2, 1, 2, new int[] {4, 6, 6}, 10000, true, false).withDepth(2, 4);

    static Path baseModel(Path dir) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel.random(PARAMS, m, 3).save(dir);
        }
        return dir;
    }

    static PaperTables.Options options(Path model, Set<PaperTables.Part> parts) {
        PruneOptions method = PruneOptions.defaults(0.34).with(PruneOptions.IMPORTANCE, ImportanceScorer.OUTPUT_MSE)
                .with(PruneOptions.CALIB_PROMPTS, 4).with(PruneOptions.CALIB_STEPS, 2).with(PruneOptions.ST_STEPS, 2)
                .with(PruneOptions.LORA_RANK, 4).with(PruneOptions.LORA_ALPHA, 4f).with(PruneOptions.BUFFER_BYTES, 1L << 20);
        List<Prompt> prompts = List.of(new Prompt(Category.SINGLE_OBJECT, "a circle"),
                new Prompt(Category.COLORS, "a red square"));
        return PaperTables.Options.defaults(model, method).toBuilder().parts(parts).evalPrompts(prompts, "two test prompts")
                .seeds(1).seedBases(1).evalSteps(2).gridSeeds(2).draws(1).firstSeedBase(0).build();
    }

    @Test
    void partsAreParsedAndEveryUnknownOneIsNamed() {
        assertEquals(EnumSet.of(PaperTables.Part.TABLE6, PaperTables.Part.FIG6), PaperTables.Part.parse("table6, fig6"));
        var e = assertThrows(IllegalArgumentException.class, () -> PaperTables.Part.parse("table6,table9,fig8"));
        assertTrue(e.getMessage().contains("table9") && e.getMessage().contains("fig8"), e.getMessage());
    }

    @Test
    void table6IsOneRunTo30PercentAndTheLowerRatiosReuseIt(@TempDir Path tmp) {
        PaperTables t = new PaperTables(tmp, options(tmp.resolve("base"), EnumSet.of(PaperTables.Part.TABLE6)), System.out);
        Map<String, PaperTables.Variant> v = t.variants();
        assertEquals(List.of("ratio-30", "ratio-05", "ratio-10", "ratio-15", "ratio-20", "ratio-25", "ratio-05-stage",
                "ratio-10-stage", "ratio-15-stage", "ratio-20-stage", "ratio-25-stage"), List.copyOf(v.keySet()), "the source runs first");
        assertNull(v.get("ratio-30").reuseFrom());
        for (String n : List.of("ratio-05", "ratio-25")) {
            assertEquals("ratio-30", v.get(n).reuseFrom());
            assertFalse(v.get(n).atStage(), "the paper's reuse: the run's final components");
            assertEquals("ratio-30", v.get(n + "-stage").reuseFrom());
            assertTrue(v.get(n + "-stage").atStage());
        }
        assertEquals(0.05, v.get("ratio-05").options().ratio());
        // Every importance-ordered variant reads the one shared ranking.
        assertEquals(tmp.resolve("importance").resolve("importance.json"), v.get("ratio-30").options().importanceFrom());
    }

    static PaperTables.Options withDraws(PaperTables.Options o, int draws, long firstSeedBase, int seedBases) {
        return o.toBuilder().draws(draws).firstSeedBase(firstSeedBase).seedBases(seedBases).build();
    }

    @Test
    void table4AtARatioOfItsOwnPrunesItsOwnPairAndLeavesTheAblationsFullMethodAlone(@TempDir Path tmp) {
        PaperTables.Options base = options(tmp, EnumSet.of(PaperTables.Part.TABLE4, PaperTables.Part.FIG6));
        PaperTables.Options apart = base.toBuilder().draws(2).table4Ratio(0.5).build();
        Map<String, PaperTables.Variant> v = new PaperTables(tmp, apart, System.out).variants();
        assertEquals(List.of("full", "t4-full", "t4-no-st", "delete", "full-draw1", "t4-full-draw1", "t4-no-st-draw1", "delete-draw1"),
                List.copyOf(v.keySet()));
        assertEquals(0.34, v.get("full").options().ratio());
        assertEquals(0.34, v.get("delete").options().ratio());
        assertEquals(0.5, v.get("t4-full").options().ratio());
        assertEquals(0.5, v.get("t4-no-st-draw1").options().ratio());
        // the pair differs only in the training, as at the ablations' ratio
        assertEquals(v.get("t4-full").options().with(PruneOptions.SANDWICH_TRAINING, false), v.get("t4-no-st").options());
        assertEquals(v.get("full").options().with(PruneOptions.RATIO, 0.5), v.get("t4-full").options());
        assertEquals(1, v.get("t4-full-draw1").options().seed());
        // Table 4 alone: no ablation full method to prune
        PaperTables.Options alone = base.toBuilder().parts(EnumSet.of(PaperTables.Part.TABLE4)).table4Ratio(0.5).build();
        assertEquals(List.of("t4-full", "t4-no-st"), List.copyOf(new PaperTables(tmp, alone, System.out).variants().keySet()));
        // at the ablations' own ratio Table 4 shares their full method, under the names of old
        PaperTables.Options same = base.toBuilder().parts(EnumSet.of(PaperTables.Part.TABLE4)).table4Ratio(0.34).build();
        assertEquals(List.of("full", "no-st"), List.copyOf(new PaperTables(tmp, same, System.out).variants().keySet()));
        var e = assertThrows(IllegalArgumentException.class, () -> base.toBuilder().table4Ratio(1.0).build());
        assertTrue(e.getMessage().contains("Table 4's ratio") && e.getMessage().contains("1.0"), e.getMessage());
    }

    @Test
    void drawsPruneTheOrderingVariantsAgainWithTheNextSeeds(@TempDir Path tmp) {
        var parts = EnumSet.of(PaperTables.Part.TABLE4, PaperTables.Part.FIG6, PaperTables.Part.FIG7);
        Map<String, PaperTables.Variant> v = new PaperTables(tmp, withDraws(options(tmp, parts), 3, 0, 1), System.out).variants();
        assertEquals(List.of("full", "no-st", "delete", "width1", "width5", "full-draw1", "no-st-draw1", "delete-draw1",
                "full-draw2", "no-st-draw2", "delete-draw2"), List.copyOf(v.keySet()), "Figure 7's widths are not drawn");
        for (String n : List.of("full", "no-st", "delete")) {
            for (int d = 1; d < 3; d++) {
                PruneOptions drawn = v.get(n + "-draw" + d).options();
                assertEquals(d, drawn.seed(), n);
                // nothing but the seed differs from draw 0
                assertEquals(v.get(n).options(), drawn.with(PruneOptions.SEED, 0L), n);
            }
        }
        Map<String, PaperTables.Variant> fig7 = new PaperTables(tmp, withDraws(options(tmp, EnumSet.of(PaperTables.Part.FIG7)), 3, 0, 1),
                System.out).variants();
        assertEquals(List.of("full", "width1", "width5"), List.copyOf(fig7.keySet()), "no ordering target, no draws");
        assertArrayEquals(new long[] {5000, 6000, 7000}, new PaperTables(tmp, withDraws(options(tmp, parts), 1, 5000, 3), System.out)
                .seedBases());
    }

    @Test
    void aFinishedVariantWithOtherOptionsIsAnErrorNamingThem(@TempDir Path tmp) {
        PaperTables.Variant full = new PaperTables(tmp, options(tmp, EnumSet.of(PaperTables.Part.FIG6)), System.out).variants().get("full");
        com.google.gson.JsonObject report = new com.google.gson.JsonObject();
        report.add("options", full.options().toJson());
        report.getAsJsonObject("options").addProperty("importance-from", "/elsewhere/importance.json");
        PaperTables.requireSameOptions(full, report); // the same run, its directory moved
        com.google.gson.JsonObject snake = new com.google.gson.JsonObject(); // as reports spelt the options in snake_case
        full.options().toJson().entrySet().forEach(x -> {
            if (!x.getKey().equals("buffer-bytes")) snake.add(x.getKey().equals("sandwich") ? "sandwich_width" : x.getKey().replace('-', '_'), x.getValue());
        });
        com.google.gson.JsonObject older = new com.google.gson.JsonObject();
        older.add("options", snake);
        PaperTables.requireSameOptions(full, older);
        report.getAsJsonObject("options").addProperty("st-steps", 300);
        var e = assertThrows(IllegalArgumentException.class, () -> PaperTables.requireSameOptions(full, report));
        assertTrue(e.getMessage().contains("variant full") && e.getMessage().contains("st-steps 300, here 2"), e.getMessage());

        PaperTables.Variant noSt = new PaperTables(tmp, options(tmp, EnumSet.of(PaperTables.Part.TABLE4)), System.out).variants().get("no-st");
        com.google.gson.JsonObject untrained = new com.google.gson.JsonObject();
        untrained.add("options", noSt.options().toJson());
        untrained.getAsJsonObject("options").addProperty("st-steps", 300);
        untrained.getAsJsonObject("options").addProperty("lora-rank", 8);
        PaperTables.requireSameOptions(noSt, untrained); // trains nothing: the trainer's settings do not reach its model
        untrained.getAsJsonObject("options").addProperty("calib-prompts", 128);
        e = assertThrows(IllegalArgumentException.class, () -> PaperTables.requireSameOptions(noSt, untrained));
        assertTrue(e.getMessage().contains("variant no-st") && e.getMessage().contains("calib-prompts 128"), e.getMessage());
    }

    @Test
    void aMicroRunWritesTheReportAndASecondRunSkipsWhatIsFinished(@TempDir Path tmp) throws Exception {
        Path base = baseModel(tmp.resolve("base"));
        Path dir = tmp.resolve("tables");
        PaperTables.Options o = options(base, EnumSet.of(PaperTables.Part.TABLE4, PaperTables.Part.FIG6));
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PaperTables.Result first = new PaperTables(dir, o, new PrintStream(log, true)).run();
        assertEquals(List.of("full", "no-st", "delete"), first.pruned());
        assertEquals(List.of("unpruned@0", "full@0", "no-st@0", "delete@0"), first.evaluated());
        String md = Files.readString(first.report());
        for (String s : new String[] {"Table 4", "Figure 6", "28.58", "27.99", "28.25", "w/o ST", "full method > linear without ST",
                "not decidable with one seed base", "grids/no-st.png", "Ordering targets (output fidelity",
                "full method closer than delete with the same training", "not decidable with one draw"}) {
            assertTrue(md.contains(s), "report.md lacks '" + s + "':\n" + md);
        }
        assertFalse(md.contains("Table 5"), "only the parts asked for");
        assertTrue(Pattern.compile("at ratio 0\\.34 \\(\\d+ blocks? replaced\\)").matcher(md).find(), md);
        for (String n : List.of("unpruned", "full", "no-st", "delete")) {
            assertTrue(Files.isRegularFile(dir.resolve("grids").resolve(n + ".png")), n);
            assertTrue(Files.isRegularFile(dir.resolve("variants").resolve(n).resolve("eval-base0.json")), n);
        }
        assertTrue(Files.isRegularFile(dir.resolve("importance").resolve("importance.json")), "the shared ranking");
        for (String chart : List.of("charts/table4.png", "charts/fig6.png")) { // drawn, and shown under their sections
            assertTrue(Files.isRegularFile(dir.resolve(chart)) && md.contains("](" + chart + ")"), chart);
        }
        assertFalse(Files.exists(dir.resolve("charts/table5.png")));
        // each pruned variant's evaluation measures its images against the unpruned model's (same prompts, seeds)
        String fullEval = Files.readString(dir.resolve("variants/full/eval-base0.json"));
        assertTrue(fullEval.contains("\"fidelity\"") && fullEval.contains("\"mse\""), fullEval);
        assertFalse(Files.readString(dir.resolve("variants/unpruned/eval-base0.json")).contains("fidelity"));
        assertTrue(md.contains("full method closer than linear without ST"), md);
        var deleted = fastflux.model.PrunedModels.replacements(loaded(dir.resolve("variants/delete")));
        assertTrue(deleted.stream().allMatch(r -> r.mode() == Replacement.Mode.DELETE));
        String deleteReport = Files.readString(dir.resolve("variants/delete/report.json"));
        assertTrue(deleteReport.contains("\"training\"") && deleteReport.contains("lora_A"),
                "the deleted blocks' sandwiches trained their neighbours' adapters: " + deleteReport);

        for (String n : List.of("full", "no-st", "delete")) { // measured once, on the same prompts for all
            assertTrue(Files.readString(dir.resolve("variants").resolve(n).resolve("output-fidelity.json"))
                    .contains("\"step_rel_mse\""), n);
        }
        assertFalse(Files.exists(dir.resolve("variants/unpruned/output-fidelity.json")));
        assertEquals(3, log.toString().lines().filter(l -> l.startsWith("[fidelity]")).count(), log.toString());

        Path fullReport = dir.resolve("variants/full/report.json");
        FileTime before = Files.getLastModifiedTime(fullReport);
        log.reset();
        PaperTables.Result second = new PaperTables(dir, o, new PrintStream(log, true)).run();
        assertFalse(log.toString().contains("[fidelity]"), "cached: " + log);
        assertEquals(List.of(), second.pruned(), "finished variants are skipped");
        assertEquals(List.of(), second.evaluated(), "cached evaluations are reused");
        assertEquals(before, Files.getLastModifiedTime(fullReport));
        assertTrue(log.toString().contains("[skip] full: finished"), log.toString());

        // --only one part afterwards: the report still holds the other finished part, from the caches
        PaperTables.Result third = new PaperTables(dir, options(base, EnumSet.of(PaperTables.Part.TABLE4)),
                new PrintStream(log, true)).run();
        assertEquals(List.of(), third.pruned());
        assertEquals(List.of(), third.evaluated());
        String again = Files.readString(third.report());
        assertTrue(again.contains("Table 4") && again.contains("Figure 6") && again.contains("grids/delete.png"), again);
        assertFalse(again.contains("Table 5"), "a part never run is not reported");

        // A variant evaluated in a later invocation compares against the unpruned images saved with their
        // evaluation; a damaged image file is named and the images are made again.
        Path deleteEval = dir.resolve("variants/delete/eval-base0.json");
        String fidelity = fidelity(deleteEval);
        Files.delete(deleteEval);
        ByteArrayOutputStream fourthLog = new ByteArrayOutputStream();
        PaperTables.Result fourth = new PaperTables(dir, options(base, EnumSet.of(PaperTables.Part.FIG6)),
                new PrintStream(fourthLog, true)).run();
        assertEquals(List.of("delete@0"), fourth.evaluated());
        assertFalse(fourthLog.toString().contains("again, for fidelity"), fourthLog.toString());
        assertEquals(fidelity, fidelity(deleteEval), "the saved images are the ones the evaluation drew");

        Path images = dir.resolve("variants/unpruned/images-base0.safetensors");
        Files.write(images, new byte[] {1, 2, 3});
        Files.delete(deleteEval);
        ByteArrayOutputStream fifthLog = new ByteArrayOutputStream();
        new PaperTables(dir, options(base, EnumSet.of(PaperTables.Part.FIG6)), new PrintStream(fifthLog, true)).run();
        assertTrue(fifthLog.toString().contains("cannot read " + images) && fifthLog.toString().contains("again, for fidelity"),
                fifthLog.toString());
        assertEquals(fidelity, fidelity(deleteEval));
        assertTrue(Files.size(images) > 1000, "made again and saved");

        // The output fidelity's cache is keyed by the model's bytes: a variant whose model changed is measured again,
        // and a damaged cache file is measured again too.
        for (String f : List.of("config.json", "model.safetensors")) {
            Files.copy(dir.resolve("variants/full").resolve(f), dir.resolve("variants/delete").resolve(f),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        Files.writeString(dir.resolve("variants/no-st/output-fidelity.json"), "{not json");
        ByteArrayOutputStream sixthLog = new ByteArrayOutputStream();
        new PaperTables(dir, options(base, EnumSet.of(PaperTables.Part.TABLE4, PaperTables.Part.FIG6)),
                new PrintStream(sixthLog, true)).run();
        List<String> measured = sixthLog.toString().lines().filter(l -> l.startsWith("[fidelity]")).toList();
        assertEquals(2, measured.size(), sixthLog.toString());
        assertTrue(measured.get(0).contains("no-st") && measured.get(1).contains("delete"), measured.toString());
        assertEquals(JsonParser.parseString(Files.readString(dir.resolve("variants/full/output-fidelity.json"))).getAsJsonObject().get("result"),
                JsonParser.parseString(Files.readString(dir.resolve("variants/delete/output-fidelity.json"))).getAsJsonObject().get("result"),
                "the same model bytes, the same figures");
    }

    private static String fidelity(Path eval) throws IOException {
        return JsonParser.parseString(Files.readString(eval)).getAsJsonObject().getAsJsonObject("report").get("fidelity").toString();
    }

    @Test
    void table6EvaluatesEachDistinctModelOnce(@TempDir Path tmp) throws Exception {
        Path base = baseModel(tmp.resolve("base"));
        Path dir = tmp.resolve("tables");
        PaperTables t = new PaperTables(dir, options(base, EnumSet.of(PaperTables.Part.TABLE6)),
                new PrintStream(new ByteArrayOutputStream(), true));
        PaperTables.Result r = t.run();
        // 6 blocks: 5-20 % replace one block, 25-30 % two; the run's stage at one block differs from its final
        // components at one block (the neighbours' adapters trained further), so some variants are the same bytes
        Map<String, List<String>> byModel = new LinkedHashMap<>();
        for (String n : t.variants().keySet()) {
            byModel.computeIfAbsent(AtomicFiles.sha256(dir.resolve("variants").resolve(n).resolve("model.safetensors")),
                    k -> new ArrayList<>()).add(n);
        }
        assertTrue(byModel.size() > 1 && byModel.size() < t.variants().size(), byModel.toString());
        Set<String> expected = new TreeSet<>(Set.of("unpruned@0"));
        for (List<String> same : byModel.values()) expected.add(same.get(0) + "@0");
        assertEquals(expected, new TreeSet<>(r.evaluated()), "one evaluation per distinct model: " + byModel);
        for (List<String> same : byModel.values()) {
            Path first = dir.resolve("variants").resolve(same.get(0));
            for (String n : same) {
                Path v = dir.resolve("variants").resolve(n);
                assertEquals(Files.readString(first.resolve("eval-base0.json")), Files.readString(v.resolve("eval-base0.json")), n);
                assertArrayEquals(Files.readAllBytes(first.resolve("grid.png")), Files.readAllBytes(v.resolve("grid.png")), n);
            }
        }
        assertTrue(Files.readString(r.report()).contains("Table 6"));
    }

    private static FluxModel loaded(Path dir) {
        try (NDManager m = NDManager.newBaseManager()) {
            return ShapesModel.load(dir, m).flux();
        }
    }
}
