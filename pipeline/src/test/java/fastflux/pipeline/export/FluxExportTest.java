package fastflux.pipeline.export;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.model.BlockId;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.LoRA;
import fastflux.model.LoraInjector;
import fastflux.model.Param;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import fastflux.model.Tensors;
import fastflux.model.io.Half;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import fastflux.pipeline.FluxPipeline;
import fastflux.pipeline.RgbImage;
import fastflux.pipeline.layout.DiffusersKeys;
import fastflux.pipeline.layout.FluxCheckpoint;
import fastflux.pipeline.layout.FluxCheckpoint.Layout;
import fastflux.pipeline.layout.SafetensorsHeader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exports of a pruned flux-pipeline-a model (linears fitted at random, a LoRA adapter with non-zero B merged) from
 * both layouts: reloaded, the export's forward equals the in-memory model's (exactly from fp32 weights; from the
 * fixture's bf16 ones, exactly the model with its weights rounded to bf16, the rounding the export stores), it
 * generates images, and its components are links (or copies) of the base's. A delete-mode export has exactly a stock
 * FLUX.1 transformer's key set at the lower depth.
 */
class FluxExportTest {
    static final Path FIXTURE = Path.of("src/test/resources/fixtures/flux-pipeline-a");
    static final Path DIFFUSERS = FIXTURE.resolve("diffusers");
    static final Path BFL = FIXTURE.resolve("bfl");
    static final List<String> COMPONENTS = List.of("scheduler", "text_encoder", "text_encoder_2", "tokenizer",
            "tokenizer_2", "vae", "model_index.json");

    @TempDir
    Path tmp;

    // ------------------------------------------------------------------ the pruned model

    /** The source's model with {@code replacements} applied, linears random, a LoRA (B non-zero) on single_blocks.1. */
    static FluxModel pruned(Path source, List<Replacement> replacements, NDManager m) {
        FluxModel model = FluxCheckpoint.open(source).load(m, DataType.FLOAT32);
        PrunedModels.apply(model, replacements);
        SplittableRandom rnd = new SplittableRandom(11);
        for (Param p : model.params().values()) {
            if (!p.hasValue()) p.set(Tensors.create(m, random(rnd, p.shape(), 0.05), p.shape()));
        }
        BlockId adapted = BlockId.ofSingle(1);
        Map<String, LoRA> loras = new LoraInjector(2, 2f, 5).inject(model, adapted, m);
        for (LoRA l : loras.values()) l.b().set(Tensors.create(m, random(rnd, l.b().shape(), 0.05), l.b().shape()));
        return model;
    }

    static float[] random(SplittableRandom rnd, Shape s, double scale) {
        float[] v = new float[(int) s.size()];
        for (int i = 0; i < v.length; i++) v[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        return v;
    }

    static FluxInputs inputs(FluxParams p, NDManager m) {
        return FluxInputs.random(p, m, 1, 16, 8, 3);
    }

    /** A model of the pruned one's structure whose weights are its merged weights, rounded to bf16 when asked. */
    static FluxModel reference(FluxModel pruned, boolean bf16, NDManager m) {
        FluxModel ref = new FluxModel(pruned.config());
        PrunedModels.apply(ref, PrunedModels.replacements(pruned));
        Map<String, fastflux.model.Linear> adapted = new HashMap<>();
        for (var l : PrunedModels.allLinears(pruned).values()) if (l.lora() != null) adapted.put(l.weight().name(), l);
        Map<String, Param> src = pruned.params();
        for (Param p : ref.params().values()) {
            float[] v;
            if (adapted.containsKey(p.name())) {
                try (NDArray w = LoraInjector.mergedWeight(adapted.get(p.name()))) {
                    v = w.toFloatArray();
                }
            } else {
                v = src.get(p.name()).value().toFloatArray();
            }
            if (bf16) for (int i = 0; i < v.length; i++) v[i] = Half.bf16ToFloat(Half.floatToBf16(v[i]));
            p.set(Tensors.create(m, v, p.shape()));
        }
        return ref;
    }

    static float[] forward(FluxModel model, FluxInputs in) {
        try (NDArray y = model.forward(in)) {
            return y.toFloatArray();
        }
    }

    static double maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs((double) a[i] - b[i]));
        return d;
    }

    static double maxAbs(float[] a) {
        double d = 0;
        for (float x : a) d = Math.max(d, Math.abs(x));
        return d;
    }

    /** A copy of a fixture folder (links followed) with a licence file and a model card of the base beside it. */
    Path withLicence(Path fixture, String name) throws IOException {
        Path dir = tmp.resolve(name);
        try (Stream<Path> s = Files.walk(fixture)) {
            for (Path p : s.toList()) {
                Path t = dir.resolve(fixture.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(t);
                else Files.copy(p, t);
            }
        }
        Files.writeString(dir.resolve("LICENSE.md"), "the base model's licence\n");
        Files.writeString(dir.resolve("README.md"), "---\nlicense: other\nlicense_name: flux-1-dev-non-commercial-license\n"
                + "license_link: LICENSE.md\n---\n# the base model\n");
        return dir;
    }

    // ------------------------------------------------------------------ diffusers, linear

    @Test
    void diffusersLinearExportReloadsShardedWithLinksAndGenerates() throws IOException {
        Path source = withLicence(DIFFUSERS, "base-diffusers");
        Path out = tmp.resolve("out");
        List<Replacement> replaced = List.of(Replacement.linear(BlockId.ofDouble(0)), Replacement.linear(BlockId.ofSingle(0)));
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = pruned(source, replaced, m);
            FluxExport.Result r = FluxExport.write(model, source, out,
                    ExportOptions.defaults().withMaxShardBytes(200_000).withBaseModel("flux-pipeline-a"));
            assertEquals(Layout.DIFFUSERS, r.layout());
            assertEquals("BF16", r.dtype());

            // sharded as diffusers shards: N files, an index naming every key of them, total size the data's
            Path t = out.resolve("transformer");
            assertTrue(r.transformerFiles().size() > 1, "expected several shards, got " + r.transformerFiles());
            int n = r.transformerFiles().size();
            JsonObject index = JsonParser.parseString(Files.readString(t.resolve("diffusion_pytorch_model.safetensors.index.json"))).getAsJsonObject();
            Map<String, String> inFiles = new TreeMap<>();
            long bytes = 0;
            for (int k = 1; k <= n; k++) {
                String file = String.format("diffusion_pytorch_model-%05d-of-%05d.safetensors", k, n);
                assertTrue(Files.isRegularFile(t.resolve(file)), file);
                try (SafetensorsReader sr = SafetensorsReader.open(t.resolve(file))) {
                    for (String key : sr.names()) {
                        inFiles.put(key, file);
                        bytes += sr.info(key).byteLength();
                        assertEquals(fastflux.model.io.DType.BF16, sr.info(key).dtype(), key);
                    }
                }
            }
            Map<String, String> weightMap = new TreeMap<>();
            index.getAsJsonObject("weight_map").entrySet().forEach(e -> weightMap.put(e.getKey(), e.getValue().getAsString()));
            assertEquals(inFiles, weightMap);
            assertEquals(bytes, index.getAsJsonObject("metadata").get("total_size").getAsLong());
            assertTrue(inFiles.containsKey("transformer_blocks.0.img_linear.weight"));
            assertTrue(inFiles.containsKey("single_transformer_blocks.0.linear.bias"));
            assertFalse(inFiles.containsKey("transformer_blocks.0.attn.to_q.weight"));

            JsonObject config = JsonParser.parseString(Files.readString(t.resolve("config.json"))).getAsJsonObject();
            assertEquals(2, config.get("num_layers").getAsInt());
            assertEquals("transformer_blocks.0", config.getAsJsonArray("replaced").get(0).getAsJsonObject().get("block").getAsString());

            // the other components link the base's
            for (String c : COMPONENTS) {
                assertTrue(Files.isSymbolicLink(out.resolve(c)), c + " is not a link");
                assertEquals(source.toRealPath().resolve(c), Files.readSymbolicLink(out.resolve(c)), c);
            }
            assertEquals("the base model's licence\n", Files.readString(out.resolve("LICENSE.md")));
            String card = Files.readString(out.resolve("README.md"));
            assertTrue(card.contains("base_model: flux-pipeline-a"), card);
            assertTrue(card.contains("license_name: flux-1-dev-non-commercial-license"), card);
            assertTrue(card.contains("double_blocks.0 (linear), single_blocks.0 (linear)"), card);
            assertTrue(card.contains("ratio | 0.50"), card);

            // reloaded: the recorded replacements, the weights the pruned model's rounded to bf16, the same forward
            FluxCheckpoint ck = FluxCheckpoint.open(out);
            assertEquals(Layout.DIFFUSERS, ck.layout());
            assertEquals(replaced, ck.replaced());
            FluxModel loaded = ck.load(m, DataType.FLOAT32);
            FluxModel ref = reference(model, true, m);
            for (Param p : ref.params().values()) {
                assertArrayEquals(p.value().toFloatArray(), loaded.params().get(p.name()).value().toFloatArray(), p.name());
            }
            FluxInputs in = inputs(model.config(), m);
            float[] exported = forward(loaded, in);
            assertArrayEquals(forward(ref, in), exported);
            float[] live = forward(model, in);
            assertTrue(maxAbsDiff(live, exported) <= 0.02 * maxAbs(live),
                    "bf16 rounding moved the output by " + maxAbsDiff(live, exported) + " of " + maxAbs(live));

            // generate runs from the export (its text encoders, VAE and scheduler through the links)
            FluxPipeline p = FluxPipeline.open(out);
            List<RgbImage> images = p.generate(List.of("three yellow triangles"), 0, new FluxPipeline.Settings(32, 32, 2, 3.5f, 32));
            assertEquals(1, images.size());
            assertEquals(32, images.get(0).width());
        }
    }

    @Test
    void diffusersCopyCopiesTheComponentsAndReexportReplacesTheShards() throws IOException {
        Path out = tmp.resolve("out");
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = pruned(DIFFUSERS, List.of(Replacement.linear(BlockId.ofSingle(0))), m);
            FluxExport.write(model, DIFFUSERS, out, ExportOptions.defaults().withMaxShardBytes(100_000));
            FluxExport.Result r = FluxExport.write(model, DIFFUSERS, out, ExportOptions.defaults().withCopy(true));
            assertEquals(List.of(out.resolve("transformer").resolve("diffusion_pytorch_model.safetensors")), r.transformerFiles());
            try (Stream<Path> s = Files.list(out.resolve("transformer"))) {
                assertEquals(List.of("config.json", "diffusion_pytorch_model.safetensors"),
                        s.map(x -> x.getFileName().toString()).sorted().toList(), "the earlier shards and index are gone");
            }
            for (String c : COMPONENTS) {
                assertFalse(Files.isSymbolicLink(out.resolve(c)), c + " is a link");
                assertTrue(Files.exists(out.resolve(c)), c);
            }
            assertArrayEquals(Files.readAllBytes(DIFFUSERS.resolve("vae/diffusion_pytorch_model.safetensors")),
                    Files.readAllBytes(out.resolve("vae/diffusion_pytorch_model.safetensors")));
            assertTrue(Files.readString(out.resolve("README.md")).contains("no licence file was found"));
            FluxModel loaded = FluxCheckpoint.open(out).load(m, DataType.FLOAT32);
            FluxInputs in = inputs(model.config(), m);
            assertArrayEquals(forward(reference(model, true, m), in), forward(loaded, in));
        }
    }

    // ------------------------------------------------------------------ BFL, linear

    /** The BFL fixture with its transformer stored in F32. */
    Path bflFp32() throws IOException {
        Path dir = tmp.resolve("bfl-fp32");
        Files.createDirectories(dir);
        Files.copy(BFL.resolve("ae.safetensors"), dir.resolve("ae.safetensors"));
        Files.copy(BFL.resolve("config.json"), dir.resolve("config.json"));
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsReader r = SafetensorsReader.open(BFL.resolve("flux.safetensors"))) {
            for (String k : r.names()) w.add(k, fastflux.model.io.DType.F32, r.info(k).shape(), r.readFloats(k));
        }
        w.write(dir.resolve("flux.safetensors"));
        return dir;
    }

    @Test
    void bflLinearExportFromFp32IsExact() throws IOException {
        Path source = bflFp32();
        Path out = tmp.resolve("out");
        List<Replacement> replaced = List.of(Replacement.linear(BlockId.ofDouble(0)), Replacement.linear(BlockId.ofSingle(0)));
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = pruned(source, replaced, m);
            FluxExport.Result r = FluxExport.write(model, source, out, ExportOptions.defaults());
            assertEquals(Layout.BFL, r.layout());
            assertEquals("F32", r.dtype());
            assertEquals(List.of(out.resolve("flux.safetensors")), r.transformerFiles());
            assertTrue(Files.isSymbolicLink(out.resolve("ae.safetensors")));
            assertEquals(source.toRealPath().resolve("ae.safetensors"), Files.readSymbolicLink(out.resolve("ae.safetensors")));
            JsonObject config = JsonParser.parseString(Files.readString(out.resolve("config.json"))).getAsJsonObject();
            assertTrue(config.has("ae_params"), "the base config's other keys are kept");
            assertEquals(2, config.getAsJsonArray("replaced").size());

            FluxCheckpoint ck = FluxCheckpoint.open(out);
            assertEquals(Layout.BFL, ck.layout(), "recognised although double_blocks.0 is a linear");
            assertEquals(replaced, ck.replaced());
            FluxModel loaded = ck.load(m, DataType.FLOAT32);
            FluxInputs in = inputs(model.config(), m);
            LoraInjector.merge(model, BlockId.ofSingle(1)); // the live model as the export stores it
            assertArrayEquals(forward(model, in), forward(loaded, in));
        }
    }

    @Test
    void bflLinearExportKeepsBf16AndGenerates() throws IOException {
        Path source = withLicence(BFL, "base-bfl");
        // a BFL release folder holds the text encoders too: the export takes them along
        for (String part : List.of("text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2")) {
            Files.createSymbolicLink(source.resolve(part), DIFFUSERS.resolve(part).toAbsolutePath());
        }
        Path out = tmp.resolve("out");
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = pruned(source, List.of(Replacement.linear(BlockId.ofDouble(1))), m);
            FluxExport.write(model, source, out, ExportOptions.defaults().withCopy(true));
            SafetensorsHeader h = SafetensorsHeader.read(out.resolve("flux.safetensors"));
            h.tensors().forEach((k, e) -> assertEquals("BF16", e.dtype(), k));
            assertTrue(h.contains("double_blocks.1.img_linear.weight"));
            assertFalse(Files.isSymbolicLink(out.resolve("ae.safetensors")));
            assertArrayEquals(Files.readAllBytes(source.resolve("ae.safetensors")), Files.readAllBytes(out.resolve("ae.safetensors")));
            assertTrue(Files.isRegularFile(out.resolve("LICENSE.md")));
            assertTrue(Files.readString(out.resolve("README.md")).contains("double_blocks.1 (linear)"));

            FluxModel loaded = FluxCheckpoint.open(out).load(m, DataType.FLOAT32);
            FluxInputs in = inputs(model.config(), m);
            assertArrayEquals(forward(reference(model, true, m), in), forward(loaded, in));

            for (String part : List.of("text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2")) {
                assertTrue(Files.isDirectory(out.resolve(part)) && !Files.isSymbolicLink(out.resolve(part)), part + " copied");
            }
            FluxPipeline p = FluxPipeline.open(out);
            assertEquals(1, p.checkpoint().replaced().size());
            assertEquals(1, p.generate(List.of("a red circle"), 1, new FluxPipeline.Settings(32, 32, 2, 3.5f, 32)).size());
        }
    }

    @Test
    void fastfluxLayoutExportIsAPrunedModelDirectory() throws IOException {
        Path source = tmp.resolve("base-fastflux");
        Files.createDirectories(source);
        Files.copy(BFL.resolve("config.json"), source.resolve("config.json"));
        Files.copy(BFL.resolve("flux.safetensors"), source.resolve("model.safetensors"));
        Path out = tmp.resolve("out");
        List<Replacement> replaced = List.of(Replacement.linear(BlockId.ofDouble(1)), Replacement.delete(BlockId.ofSingle(0)));
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = pruned(source, replaced, m);
            FluxExport.Result r = FluxExport.write(model, source, out, ExportOptions.defaults());
            assertEquals(Layout.FASTFLUX, r.layout());
            FluxCheckpoint ck = FluxCheckpoint.open(out);
            assertEquals(Layout.FASTFLUX, ck.layout());
            assertEquals(replaced, ck.replaced(), "the fastflux layout lists deleted blocks rather than renumbering");
            FluxModel loaded = ck.load(m, DataType.FLOAT32);
            FluxInputs in = inputs(model.config(), m);
            assertArrayEquals(forward(reference(model, true, m), in), forward(loaded, in));
            assertTrue(Files.readString(out.resolve("README.md")).contains("double_blocks.1 (linear), single_blocks.0 (delete)"));
        }
    }

    // ------------------------------------------------------------------ delete mode

    /** The first double and single blocks deleted: the second of each is renumbered 0 (single_blocks.1 carries the LoRA). */
    static final List<Replacement> DELETED = List.of(Replacement.delete(BlockId.ofDouble(0)), Replacement.delete(BlockId.ofSingle(0)));

    /** Key -> shape of the safetensors files given. */
    static Map<String, List<Long>> keys(List<Path> files) {
        Map<String, List<Long>> out = new TreeMap<>();
        for (Path f : files) {
            SafetensorsHeader.read(f).tensors().forEach((k, e) -> out.put(k, Arrays.stream(e.shape()).boxed().toList()));
        }
        return out;
    }

    @Test
    void deleteModeBflIsAStockTransformerOfLowerDepth() throws IOException {
        Path out = tmp.resolve("out");
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = pruned(BFL, DELETED, m);
            FluxExport.Result r = FluxExport.write(model, BFL, out, ExportOptions.defaults());
            FluxParams stock = model.config().withDepth(1, 1);
            assertEquals(stock, r.params());
            Map<String, List<Long>> expected = new TreeMap<>();
            new FluxModel(stock).expectedShapes().forEach((k, s) -> expected.put(k, Arrays.stream(s.getShape()).boxed().toList()));
            assertEquals(expected, keys(r.transformerFiles()));
            JsonObject config = JsonParser.parseString(Files.readString(out.resolve("config.json"))).getAsJsonObject();
            assertEquals(1, config.getAsJsonObject("params").get("depth").getAsInt());
            assertEquals(1, config.getAsJsonObject("params").get("depth_single_blocks").getAsInt());
            assertFalse(config.has("replaced"));

            FluxCheckpoint ck = FluxCheckpoint.open(out);
            assertTrue(ck.replaced().isEmpty());
            FluxModel loaded = ck.load(m, DataType.FLOAT32);
            FluxInputs in = inputs(model.config(), m);
            assertArrayEquals(forward(reference(model, true, m), in), forward(loaded, in));
        }
    }

    @Test
    void deleteModeDiffusersIsAStockTransformerOfLowerDepth() throws IOException {
        Path out = tmp.resolve("out");
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = pruned(DIFFUSERS, DELETED, m);
            FluxExport.Result r = FluxExport.write(model, DIFFUSERS, out, ExportOptions.defaults());
            FluxParams stock = model.config().withDepth(1, 1);
            Map<String, List<Long>> got = keys(r.transformerFiles());

            // the key set diffusers' layout defines for a stock transformer of that depth ...
            Map<String, List<Long>> defined = new TreeMap<>();
            new FluxModel(stock).expectedShapes().forEach((k, s) -> {
                for (DiffusersKeys.Rows rows : DiffusersKeys.sources(k, s.getShape(), stock)) {
                    long[] shape = s.getShape().clone();
                    shape[0] = rows.sourceRows();
                    defined.put(rows.key(), Arrays.stream(shape).boxed().toList());
                }
            });
            assertEquals(defined, got);
            // ... and the fixture's own diffusers keys with the deleted blocks dropped and the rest renumbered
            Map<String, List<Long>> fixture = keys(List.of(
                    DIFFUSERS.resolve("transformer/diffusion_pytorch_model-00001-of-00002.safetensors"),
                    DIFFUSERS.resolve("transformer/diffusion_pytorch_model-00002-of-00002.safetensors")));
            Map<String, List<Long>> renumbered = new TreeMap<>();
            Pattern block = Pattern.compile("(transformer_blocks|single_transformer_blocks)\\.(\\d+)\\.(.*)");
            fixture.forEach((k, s) -> {
                Matcher mm = block.matcher(k);
                if (!mm.matches()) {
                    renumbered.put(k, s);
                } else if (mm.group(1).equals("transformer_blocks")) {
                    if (!mm.group(2).equals("0")) renumbered.put("transformer_blocks.0." + mm.group(3), s);
                } else if (!mm.group(2).equals("0")) {
                    renumbered.put("single_transformer_blocks.0." + mm.group(3), s);
                }
            });
            assertEquals(renumbered, got);
            JsonObject config = JsonParser.parseString(Files.readString(out.resolve("transformer/config.json"))).getAsJsonObject();
            assertEquals(1, config.get("num_layers").getAsInt());
            assertEquals(1, config.get("num_single_layers").getAsInt());
            assertFalse(config.has("replaced"));

            FluxModel loaded = FluxCheckpoint.open(out).load(m, DataType.FLOAT32);
            assertEquals(stock, loaded.config());
            FluxInputs in = inputs(model.config(), m);
            assertArrayEquals(forward(reference(model, true, m), in), forward(loaded, in));
        }
    }

    // ------------------------------------------------------------------ refusals, the card

    @Test
    void refusesAnUnfittedLinearAndTheSourceItself() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = FluxCheckpoint.open(BFL).load(m, DataType.FLOAT32);
            IllegalArgumentException self = assertThrows(IllegalArgumentException.class,
                    () -> FluxExport.write(model, BFL, BFL, ExportOptions.defaults()));
            assertTrue(self.getMessage().contains("over itself"), self.getMessage());
            PrunedModels.apply(model, List.of(Replacement.linear(BlockId.ofSingle(0))));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> FluxExport.write(model, BFL, tmp.resolve("out"), ExportOptions.defaults()));
            assertTrue(e.getMessage().contains("single_blocks.0.linear.weight has no value"), e.getMessage());
        }
    }

    @Test
    void aReplacedListInBflNamesInADiffusersConfigIsNamedWithItsFile() throws IOException {
        Path out = tmp.resolve("out");
        try (NDManager m = NDManager.newBaseManager()) {
            FluxExport.write(pruned(DIFFUSERS, List.of(Replacement.linear(BlockId.ofDouble(1))), m), DIFFUSERS, out,
                    ExportOptions.defaults());
        }
        Path config = out.resolve("transformer/config.json");
        Files.writeString(config, Files.readString(config).replace("\"transformer_blocks.1\"", "\"double_blocks.1\""));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(out));
        assertTrue(e.getMessage().contains(config.toString()) && e.getMessage().contains("replaced[0]")
                && e.getMessage().contains("\"double_blocks.1\" is not a diffusers block name"), e.getMessage());
    }

    @Test
    void theCardIsRewrittenWithTheReportsFigures() throws IOException {
        Path out = tmp.resolve("out");
        try (NDManager m = NDManager.newBaseManager()) {
            FluxExport.write(pruned(BFL, List.of(Replacement.linear(BlockId.ofSingle(0))), m), BFL, out, ExportOptions.defaults());
        }
        assertTrue(Files.readString(out.resolve("README.md")).contains("Not measured yet"));
        JsonObject report = JsonParser.parseString("{\"quality\": {\"prompts\": \"eval set, 2 seeds\","
                + " \"base\": {\"clip_score\": 31.25, \"images\": 8}, \"pruned\": {\"clip_score\": 30.5, \"images\": 8},"
                + " \"fidelity\": {\"fd_to_base\": 12.5}},"
                + " \"speed\": {\"base_ms\": 40.0, \"pruned_ms\": 30.0, \"base_flops\": 100, \"pruned_flops\": 75,"
                + " \"latency_ratio\": 0.75, \"flop_ratio\": 0.75, \"work\": \"batch 1\"}}").getAsJsonObject();
        ModelCard.update(out, report);
        String card = Files.readString(out.resolve("README.md"));
        assertTrue(card.contains("| clip_score | 31.25 | 30.50 |"), card);
        assertTrue(card.contains("| fd_to_base |  | 12.50 |"), card);
        assertTrue(card.contains("| latency per forward (ms, median) | 40 | 30 |"), card);
        assertTrue(card.contains("single_blocks.0 (linear)"), card);
        assertFalse(card.contains("Not measured yet"), card);
    }
}
