package fastflux.model;

import static fastflux.model.PruneTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A pruned model directory: export, transparent loading, exact file contents, errors. */
class PrunedModelsTest {
    static final FluxParams TINY = FluxParams.named("flux-tiny-a");
    static final List<Replacement> PLAN = List.of(Replacement.linear(BlockId.ofDouble(1)),
            Replacement.delete(BlockId.ofSingle(0)), Replacement.linear(BlockId.ofSingle(2)));

    @TempDir
    Path tmp;

    static JsonObject json(String s) {
        return JsonParser.parseString(s).getAsJsonObject();
    }

    /** Applies PLAN, fits the linears randomly, puts trained LoRA on the kept neighbours. */
    static void prune(FluxModel model, NDManager m) {
        PrunedModels.apply(model, PLAN);
        fitRandomly(model, m, 100);
        LoraInjector inj = new LoraInjector(4, 8f, 9);
        inj.inject(model, BlockId.ofDouble(0), m);
        inj.inject(model, BlockId.ofSingle(1), m);
        perturbAdapters(model, m, 200);
    }

    /** The names a pruned tiny checkpoint must hold: the full model's minus replaced blocks, plus their linears. */
    static Set<String> expectedNames() {
        Set<String> names = new TreeSet<>();
        for (String n : new FluxModel(TINY).params().keySet()) {
            if (!n.startsWith("double_blocks.1.") && !n.startsWith("single_blocks.0.") && !n.startsWith("single_blocks.2.")) {
                names.add(n);
            }
        }
        names.addAll(List.of("double_blocks.1.img_linear.weight", "double_blocks.1.img_linear.bias",
                "double_blocks.1.txt_linear.weight", "double_blocks.1.txt_linear.bias",
                "single_blocks.2.linear.weight", "single_blocks.2.linear.bias"));
        return names;
    }

    static Set<String> names(Path dir) {
        try (SafetensorsReader r = SafetensorsReader.open(dir.resolve("model.safetensors"))) {
            return new TreeSet<>(r.names());
        }
    }

    @Test
    void fp32ExportLoadsToTheSameOutputs() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = new FluxModel(TINY);
            model.initRandom(m, DataType.FLOAT32, 3);
            Path base = tmp.resolve("base");
            writeDir(model.params(), TINY, json("{\"model_type\": \"flux\", \"sampling\": {\"steps\": 4}}"), DType.F32, base);
            FluxInputs in = fixtureInputs(m);
            prune(model, m);
            float[] adapted = forward(model, in);

            Path out = tmp.resolve("pruned");
            PrunedModels.export(model, base, out);
            assertEquals(2 * 10 + 2 * 3, LoraInjector.trainableParams(model).size(), "export leaves the adapters in place");
            assertArrayEquals(adapted, forward(model, in), "export does not change the live model");

            FluxModel loaded = ModelDir.load(out, m, DataType.FLOAT32, Set.of());
            assertEquals(PLAN, PrunedModels.replacements(loaded));
            float[] got = forward(loaded, in);
            assertTrue(maxAbsDiff(adapted, got) <= 1e-5, "merged export vs adapters: " + maxAbsDiff(adapted, got));
            LoraInjector.merge(model, BlockId.ofDouble(0));
            LoraInjector.merge(model, BlockId.ofSingle(1));
            assertArrayEquals(forward(model, in), got, "the export holds exactly the merged model");

            assertEquals(expectedNames(), names(out));
            assertTrue(Files.size(out.resolve("model.safetensors")) < Files.size(base.resolve("model.safetensors")),
                    "replacing blocks shrinks the file");
            JsonObject cfg = ModelDir.readConfig(out);
            assertEquals("flux", cfg.get("model_type").getAsString(), "extra config keys are kept");
            assertEquals(4, cfg.getAsJsonObject("sampling").get("steps").getAsInt());
            assertEquals(json("{\"r\": [{\"block\": \"double_blocks.1\", \"kind\": \"double\", \"mode\": \"linear\"},"
                    + "{\"block\": \"single_blocks.0\", \"kind\": \"single\", \"mode\": \"delete\"},"
                    + "{\"block\": \"single_blocks.2\", \"kind\": \"single\", \"mode\": \"linear\"}]}").get("r"),
                    cfg.get("replaced"));
            try (SafetensorsReader r = SafetensorsReader.open(out.resolve("model.safetensors"))) {
                assertEquals("test", r.metadata().get("origin"), "the base metadata is kept");
                for (String n : r.names()) assertEquals(DType.F32, r.info(n).dtype(), n);
            }
        }
    }

    @Test
    void bf16ExportStaysBf16AndLoadsToTheRoundedModel() {
        try (NDManager m = NDManager.newBaseManager()) {
            // The fixture is a bf16 checkpoint with extra config keys.
            FluxModel model = ModelDir.load(FIXTURE, m, DataType.FLOAT32, Set.of());
            FluxInputs in = fixtureInputs(m);
            prune(model, m);
            Path out = tmp.resolve("pruned-bf16");
            PrunedModels.export(model, FIXTURE, out);
            try (SafetensorsReader r = SafetensorsReader.open(out.resolve("model.safetensors"))) {
                for (String n : r.names()) assertEquals(DType.BF16, r.info(n).dtype(), n + " stays bf16");
            }
            assertEquals(expectedNames(), names(out));
            assertEquals(ModelDir.readConfig(FIXTURE).get("note"), ModelDir.readConfig(out).get("note"));

            FluxModel loaded = ModelDir.load(out, m, DataType.FLOAT32, Set.of());
            LoraInjector.merge(model, BlockId.ofDouble(0));
            LoraInjector.merge(model, BlockId.ofSingle(1));
            roundToBf16(model.params(), m);
            assertArrayEquals(forward(model, in), forward(loaded, in), "the export is the merged model rounded to bf16");
        }
    }

    @Test
    void nothingReplacedIsTheOriginal() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = ModelDir.load(FIXTURE, m, DataType.FLOAT32, Set.of());
            FluxInputs in = fixtureInputs(m);
            Path out = tmp.resolve("same");
            PrunedModels.export(model, FIXTURE, out);
            FluxModel loaded = ModelDir.load(out, m, DataType.FLOAT32, Set.of());
            assertArrayEquals(forward(model, in), forward(loaded, in));

            try (SafetensorsReader a = SafetensorsReader.open(FIXTURE.resolve("model.safetensors"));
                 SafetensorsReader b = SafetensorsReader.open(out.resolve("model.safetensors"))) {
                assertEquals(a.names(), b.names());
                assertEquals(a.metadata(), b.metadata());
                for (String n : a.names()) {
                    assertEquals(a.info(n).dtype(), b.info(n).dtype(), n);
                    assertArrayEquals(a.info(n).shape(), b.info(n).shape(), n);
                    assertEquals(a.raw(n), b.raw(n), n + " bytes");
                }
            }
            JsonObject expected = ModelDir.readConfig(FIXTURE);
            expected.add("replaced", new com.google.gson.JsonArray());
            assertEquals(expected, ModelDir.readConfig(out));
        }
    }

    @Test
    void extraNamespacesAreCopied() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = new FluxModel(TINY);
            model.initRandom(m, DataType.FLOAT32, 3);
            Param extra = new Param("text_encoder.token_embedding.weight", new ai.djl.ndarray.types.Shape(5, 4));
            extra.set(random(m, extra.shape(), 1, 1f));
            java.util.Map<String, Param> all = new java.util.LinkedHashMap<>(model.params());
            all.put(extra.name(), extra);
            Path base = tmp.resolve("base");
            writeDir(all, TINY, new JsonObject(), DType.BF16, base);
            PrunedModels.apply(model, PLAN);
            fitRandomly(model, m, 1);
            Path out = tmp.resolve("out");
            PrunedModels.export(model, base, out);
            try (SafetensorsReader a = SafetensorsReader.open(base.resolve("model.safetensors"));
                 SafetensorsReader b = SafetensorsReader.open(out.resolve("model.safetensors"))) {
                assertEquals(DType.BF16, b.info(extra.name()).dtype());
                assertEquals(a.raw(extra.name()), b.raw(extra.name()));
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ModelDir.load(out, m, DataType.FLOAT32, Set.of()));
            assertTrue(e.getMessage().contains("unexpected (1): text_encoder.token_embedding.weight"), e.getMessage());
            ModelDir.load(out, m, DataType.FLOAT32, Set.of("text_encoder."));
        }
    }

    @Test
    void exportRefusesUnfittedLinearsAndItsOwnBase() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = ModelDir.load(FIXTURE, m, DataType.FLOAT32, Set.of());
            PrunedModels.apply(model, PLAN);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> PrunedModels.export(model, FIXTURE, tmp.resolve("x")));
            assertTrue(e.getMessage().contains("double_blocks.1.img_linear.weight has no value"), e.getMessage());
            fitRandomly(model, m, 1);
            assertThrows(IllegalArgumentException.class, () -> PrunedModels.export(model, FIXTURE, FIXTURE));
        }
    }

    @Test
    void aMismatchedCheckpointNamesEveryTensor() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = ModelDir.load(FIXTURE, m, DataType.FLOAT32, Set.of());
            PrunedModels.apply(model, List.of(Replacement.linear(BlockId.ofSingle(2))));
            fitRandomly(model, m, 1);
            Path out = tmp.resolve("out");
            PrunedModels.export(model, FIXTURE, out);
            // The config loses its list: the checkpoint no longer matches.
            JsonObject cfg = ModelDir.readConfig(out);
            cfg.remove("replaced");
            writeConfig(out, cfg);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ModelDir.load(out, m, DataType.FLOAT32, Set.of()));
            String msg = e.getMessage();
            assertTrue(msg.contains("missing (") && msg.contains("single_blocks.2.linear1.weight"), msg);
            assertTrue(msg.contains("unexpected (2): single_blocks.2.linear.bias, single_blocks.2.linear.weight"), msg);
            assertTrue(msg.contains("\"replaced\": none"), msg);
        }
    }

    static void writeConfig(Path dir, JsonObject cfg) {
        try {
            Files.writeString(dir.resolve("config.json"), cfg.toString());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static String error(String replaced) {
        JsonObject cfg = json("{\"replaced\": " + replaced + "}");
        return assertThrows(IllegalArgumentException.class, () -> PrunedModels.readReplaced(cfg, TINY)).getMessage();
    }

    @Test
    void badReplacedListsAreNamed() {
        assertTrue(error("{}").contains("must be a list"));
        assertTrue(error("[3]").contains("replaced[0]: expected an object"));
        assertTrue(error("[{\"block\": \"double_blocks.2\", \"kind\": \"double\", \"mode\": \"linear\"}]")
                .contains("replaced[0]: unknown block 'double_blocks.2': this model has 2 double_blocks"));
        assertTrue(error("[{\"block\": \"triple_blocks.0\", \"kind\": \"double\", \"mode\": \"linear\"}]")
                .contains("unknown block 'triple_blocks.0'"));
        assertTrue(error("[{\"block\": \"single_blocks.0\", \"kind\": \"triple\", \"mode\": \"linear\"}]")
                .contains("unknown kind \"triple\""));
        assertTrue(error("[{\"block\": \"single_blocks.0\", \"kind\": \"single\", \"mode\": \"prune\"}]")
                .contains("unknown mode \"prune\""));
        assertTrue(error("[{\"block\": \"single_blocks.0\", \"kind\": \"double\", \"mode\": \"linear\"}]")
                .contains("block single_blocks.0 is a single block but kind is \"double\""));
        assertTrue(error("[{\"block\": \"single_blocks.0\", \"kind\": \"single\", \"mode\": \"linear\"},"
                + "{\"block\": \"single_blocks.0\", \"kind\": \"single\", \"mode\": \"delete\"}]")
                .contains("replaced[1]: block single_blocks.0 is listed twice (also replaced[0])"));
        assertTrue(error("[{\"block\": \"single_blocks.0\", \"kind\": \"single\"}]").contains("replaced[0]: missing \"mode\""));
        assertTrue(error("[{\"block\": \"single_blocks.0\", \"kind\": \"single\", \"mode\": \"linear\", \"rank\": 4}]")
                .contains("unknown field \"rank\""));
        assertEquals(List.of(), PrunedModels.readReplaced(new JsonObject(), TINY));
    }

    @Test
    void aBadListInADirectoryNamesItsConfig() throws Exception {
        Path dir = tmp.resolve("bad");
        Files.createDirectories(dir);
        Files.copy(FIXTURE.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        JsonObject cfg = ModelDir.readConfig(FIXTURE);
        cfg.add("replaced", json("{\"r\": [{\"block\": \"single_blocks.7\", \"kind\": \"single\", \"mode\": \"delete\"}]}").get("r"));
        writeConfig(dir, cfg);
        try (NDManager m = NDManager.newBaseManager()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ModelDir.load(dir, m, DataType.FLOAT32, Set.of()));
            assertTrue(e.getMessage().contains("config.json: replaced[0]: unknown block 'single_blocks.7'"), e.getMessage());
        }
    }

    @Test
    void applySwapsSlotsAndRefusesDuplicates() {
        FluxModel model = new FluxModel(TINY);
        List<Module> removed = PrunedModels.apply(model, PLAN);
        assertEquals(3, removed.size());
        assertInstanceOf(ReplacedDoubleBlock.class, model.doubleBlocks().get(1));
        assertInstanceOf(ShortcutSingleBlock.class, model.singleBlocks().get(0));
        assertInstanceOf(ReplacedSingleBlock.class, model.singleBlocks().get(2));
        assertEquals(PLAN, PrunedModels.replacements(model));
        assertTrue(PrunedModels.apply(model, PLAN).isEmpty(), "slots already replaced are kept");
        List<Replacement> twice = new ArrayList<>(PLAN);
        twice.add(Replacement.linear(BlockId.ofSingle(0)));
        assertThrows(IllegalArgumentException.class, () -> PrunedModels.apply(model, twice));
        assertThrows(IllegalArgumentException.class,
                () -> PrunedModels.apply(model, List.of(Replacement.linear(BlockId.ofDouble(5)))));
    }
}
