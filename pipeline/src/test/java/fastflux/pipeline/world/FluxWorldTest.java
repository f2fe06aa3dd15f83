package fastflux.pipeline.world;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import fastflux.model.io.TensorInfo;
import fastflux.pipeline.FluxPipeline;
import fastflux.pipeline.RgbImage;
import fastflux.pruning.Calibration;
import fastflux.pruning.ImportanceReport;
import fastflux.pruning.ImportanceScorer;
import fastflux.pruning.PromptCalibrationSource;
import fastflux.pruning.PruneJob;
import fastflux.pruning.PruneOptions;
import fastflux.world.Worlds;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The method on a FLUX.1 pipeline world: the tiny fixture pipeline (flux-pipeline-a, both layouts) judged by the tiny
 * CLIP (clip-tiny-a), at 32 x 32 with 2 sampler steps.
 */
class FluxWorldTest {
    static final Path FIXTURE = Path.of("src/test/resources/fixtures/flux-pipeline-a");
    static final Path DIFFUSERS = FIXTURE.resolve("diffusers");
    static final Path CLIP = Path.of("src/test/resources/fixtures/clip-tiny-a");
    static final List<String> PROMPTS = List.of("a red circle left of a blue square", "three yellow triangles",
            "a green square", "two blue circles", "a red triangle above a yellow square", "one blue square",
            "a yellow circle", "three red squares", "a blue triangle", "two green circles");

    static Path promptFile(Path dir) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < PROMPTS.size(); i++) sb.append(i % 2 == 0 ? "shapes\t" : "").append(PROMPTS.get(i)).append('\n');
        return Files.writeString(dir.resolve("prompts.txt"), sb.toString());
    }

    static Map<String, String> settings(Path dir, Path cache) throws IOException {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("prompts", promptFile(dir).toString());
        s.put("clip", CLIP.toAbsolutePath().toString());
        s.put("width", "32");
        s.put("height", "32");
        s.put("sampler-steps", "2");
        s.put("max-sequence-length", "32");
        s.put("fit-prompts", "3");
        s.put("train-prompts", "3");
        s.put("probe-images", "32");
        if (cache != null) s.put("out", cache.toString());
        return s;
    }

    /** A BFL-layout pipeline directory: the fixture's transformer ({@code flux} if given), autoencoder and text parts. */
    static Path bflDir(Path tmp, Path flux) throws IOException {
        Path d = Files.createDirectories(tmp.resolve("bfl"));
        Path bfl = FIXTURE.resolve("bfl").toAbsolutePath();
        Files.createSymbolicLink(d.resolve("flux.safetensors"), flux != null ? flux : bfl.resolve("flux.safetensors"));
        Files.createSymbolicLink(d.resolve("ae.safetensors"), bfl.resolve("ae.safetensors"));
        Files.copy(bfl.resolve("config.json"), d.resolve("config.json"));
        for (String part : List.of("text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2")) {
            Files.createSymbolicLink(d.resolve(part), DIFFUSERS.toAbsolutePath().resolve(part));
        }
        return d;
    }

    /**
     * The fixture's BFL transformer with every output gate of {@code block} zero (double: img_mod and txt_mod's
     * chunks 2 and 5; single: modulation's chunk 2): the block is then exactly the identity.
     */
    static Path gatedOff(Path tmp, BlockId block, int hidden) {
        Path out = tmp.resolve("flux-gated.safetensors");
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsReader r = SafetensorsReader.open(FIXTURE.resolve("bfl/flux.safetensors"))) {
            for (String n : r.names()) {
                TensorInfo info = r.info(n);
                float[] v = r.readFloats(n);
                int[] chunks = null;
                if (block.kind() == BlockId.Kind.DOUBLE && (n.startsWith("double_blocks." + block.index() + ".img_mod.lin.")
                        || n.startsWith("double_blocks." + block.index() + ".txt_mod.lin."))) {
                    chunks = new int[] {2, 5};
                } else if (block.kind() == BlockId.Kind.SINGLE && n.startsWith("single_blocks." + block.index() + ".modulation.lin.")) {
                    chunks = new int[] {2};
                }
                if (chunks != null) {
                    int rowLen = n.endsWith(".weight") ? (int) info.shape()[1] : 1;
                    for (int c : chunks) java.util.Arrays.fill(v, c * hidden * rowLen, (c + 1) * hidden * rowLen, 0f);
                }
                w.add(n, info.dtype(), info.shape(), v);
            }
        }
        w.write(out);
        return out;
    }

    @Test
    void everyImportanceMetricRanksABlockWithZeroGatesLeastImportant(@TempDir Path tmp) throws IOException {
        BlockId gated = BlockId.parse("double_blocks.1", fastflux.model.ModelDir.readParams(FIXTURE.resolve("bfl")));
        Path dir = bflDir(tmp, gatedOff(tmp, gated, 64).toAbsolutePath());
        try (NDManager m = NDManager.newBaseManager()) {
            FluxWorld world = (FluxWorld) Worlds.open(dir, m, settings(tmp, tmp.resolve("out")));
            ImportanceScorer.GenerationOptions o = ImportanceScorer.GenerationOptions.defaults(world).toBuilder()
                    .prompts(30, 1).reference(30, 99).batch(10).build();
            ImportanceReport fd = ImportanceScorer.byGeneration(world, o);
            ImportanceReport.Entry first = fd.ranked().get(0);
            assertEquals(gated, first.block(), "fd-align ranks the identity block first: " + fd.ranked());
            for (ImportanceReport.Entry e : fd.ranked()) assertTrue(first.fd() <= e.fd(), "FD part: " + fd.ranked());
            assertEquals(0, first.fd(), 1e-6, "the identity block's images are the base's");
            // CLIP part: without the identity block the CLIP score is the unpruned model's, exactly. (With the tiny
            // CLIP's random weights a score is noise around 0, so removing another block may raise it by chance.)
            List<String> prompts = world.samplePrompts(30, 1);
            long[] seeds = new long[30];
            for (int i = 0; i < seeds.length; i++) seeds[i] = o.seedBase() + i;
            List<RgbImage> base = world.generate(prompts, seeds, o.steps(), o.guidance(), o.batch());
            assertEquals(world.meanAlignment(prompts, world.alignment(prompts, base)), first.align(), 1e-12);
            Calibration c = new Calibration(world.flux(), PromptCalibrationSource.sample(world, 3, 0),
                    Calibration.Options.defaults().withSteps(2));
            ImportanceReport mse = ImportanceScorer.byOutputMse(c);
            assertEquals(gated, mse.ranked().get(0).block(), "output-mse: " + mse.ranked());
            assertEquals(0, mse.ranked().get(0).mse(), 0);
        }
    }

    @Test
    void pruneFromPromptsThenGenerateFromTheExportInBothLayouts(@TempDir Path tmp) throws IOException {
        Path ranking = null;
        for (Path base : List.of(DIFFUSERS.toAbsolutePath(), bflDir(tmp, null))) {
            Path out = tmp.resolve("out-" + base.getFileName());
            Path prompts = tmp.resolve("p-" + base.getFileName());
            Files.createDirectories(prompts);
            PruneOptions options = PruneOptions.defaults(0.25).with(PruneOptions.CALIB_STEPS, 2).with(PruneOptions.ST_STEPS, 2);
            // the same weights in the BFL layout: the diffusers run's fd-align ranking is reused, to keep the test short
            if (ranking != null) options = options.with(PruneOptions.IMPORTANCE_FROM, ranking);
            try (NDManager m = NDManager.newBaseManager()) {
                PruneJob job = new PruneJob(base, out, options, settings(prompts, null), PruneJob.Listener.NONE, m);
                job.runAll(null, 1, null);
                assertEquals(1, job.state().completed().size());
                assertEquals(32, job.state().options().get("width").getAsInt(), "world settings are saved with the options");
                if (ranking == null) {
                    assertTrue(Files.isRegularFile(out.resolve("importance.json")), "fd-align ranked the blocks");
                    ranking = out.resolve("importance.json");
                }
                assertTrue(Files.isRegularFile(out.resolve("embeddings").resolve(
                        Files.list(out.resolve("embeddings")).filter(f -> f.toString().endsWith(".safetensors"))
                                .findFirst().orElseThrow().getFileName())));
            }
            if (ranking != null && base.equals(DIFFUSERS.toAbsolutePath())) {
                // a resumed run must take the same world settings
                Map<String, String> other = settings(prompts, null);
                other.put("train-prompts", "4");
                try (NDManager m = NDManager.newBaseManager()) {
                    PruneJob again = new PruneJob(base, out, options, other, PruneJob.Listener.NONE, m);
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, again::begin);
                    assertTrue(e.getMessage().contains("train-prompts 3, now 4"), e.getMessage());
                }
            }
            // the export keeps the base's layout, with the other components taken along
            fastflux.pipeline.layout.FluxCheckpoint exported = fastflux.pipeline.layout.FluxCheckpoint.open(out);
            assertEquals(fastflux.pipeline.layout.FluxCheckpoint.open(base).layout(), exported.layout());
            assertEquals(1, exported.replaced().size(), "the replaced block is named in the export's config");
            FluxPipeline p = FluxPipeline.open(out, new FluxPipeline.Options(null, DIFFUSERS, ai.djl.ndarray.types.DataType.FLOAT32));
            List<RgbImage> images = p.generate(List.of(PROMPTS.get(0)), 42, new FluxPipeline.Settings(32, 32, 2, 3.5f, 32));
            assertEquals(32, images.get(0).width());
        }
    }

    @Test
    void theDefaultSequenceLengthIsCappedByTheTokenizer(@TempDir Path tmp) throws IOException {
        Map<String, String> s = settings(tmp, tmp.resolve("out"));
        s.remove("max-sequence-length");
        try (NDManager m = NDManager.newBaseManager()) {
            FluxWorld w = (FluxWorld) Worlds.open(DIFFUSERS, m, s);
            assertEquals(32, w.textTokens(), "the fixture's tokenizer_2 has model_max_length 32");
            w.cache().close();
        }
    }

    @Test
    void fdAlignWithoutClipIsRefusedNamingClip(@TempDir Path tmp) throws IOException {
        Map<String, String> s = settings(tmp, tmp.resolve("out"));
        s.remove("clip");
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = new PruneJob(DIFFUSERS, tmp.resolve("out"), PruneOptions.defaults(0.25), s, PruneJob.Listener.NONE, m);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, job::begin);
            assertTrue(e.getMessage().contains("--clip"), e.getMessage());
        }
    }

    @Test
    void theEmbeddingCacheIsReusedAndACorruptOneIsNamedAndRebuilt(@TempDir Path tmp) throws IOException {
        Map<String, String> s = settings(tmp, tmp.resolve("out"));
        Path file;
        float[] txt = new float[32 * 48], y = new float[64], again = new float[32 * 48];
        try (NDManager m = NDManager.newBaseManager()) {
            FluxWorld w = (FluxWorld) Worlds.open(DIFFUSERS, m, s);
            assertEquals(EmbeddingCache.Status.BUILT, w.cache().status());
            file = w.cache().file();
            w.cache().read(w.cache().row(PROMPTS.get(1)), txt, 0, y, 0);
            w.cache().close();
        }
        try (NDManager m = NDManager.newBaseManager()) {
            FluxWorld w = (FluxWorld) Worlds.open(DIFFUSERS, m, s);
            assertEquals(EmbeddingCache.Status.REUSED, w.cache().status(), w.cache().detail());
            w.cache().close();
        }
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length - 5] ^= 0x40;
        Files.write(file, bytes);
        try (NDManager m = NDManager.newBaseManager()) {
            FluxWorld w = (FluxWorld) Worlds.open(DIFFUSERS, m, s);
            assertEquals(EmbeddingCache.Status.REBUILT, w.cache().status());
            assertTrue(w.cache().detail().contains("sha256") && w.cache().detail().contains(file.toString()), w.cache().detail());
            w.cache().read(w.cache().row(PROMPTS.get(1)), again, 0, y, 0);
            assertArrayEquals(txt, again);
            w.cache().close();
        }
    }

    @Test
    void aBadPromptLineIsNamed(@TempDir Path tmp) throws IOException {
        Path f = Files.writeString(tmp.resolve("bad.txt"), "a red circle\nart\tthree triangles\n\t \n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptFiles.read(f));
        assertTrue(e.getMessage().contains("bad.txt:3") && e.getMessage().contains("empty"), e.getMessage());
        Path ctl = Files.writeString(tmp.resolve("ctl.txt"), "a red circle\nthree\u0007 triangles\n");
        e = assertThrows(IllegalArgumentException.class, () -> PromptFiles.read(ctl));
        assertTrue(e.getMessage().contains("ctl.txt:2") && e.getMessage().contains("control"), e.getMessage());
        Path longer = Files.writeString(tmp.resolve("long.txt"), "a red circle\n" + "three yellow triangles ".repeat(8) + "\n");
        try (fastflux.pipeline.t5.T5Tokenizer tok = fastflux.pipeline.t5.T5Tokenizer.load(DIFFUSERS.resolve("tokenizer_2"), 32)) {
            e = assertThrows(IllegalArgumentException.class, () -> FluxWorld.readChecked(longer, tok, 32));
            assertTrue(e.getMessage().contains("long.txt:2") && e.getMessage().contains("--max-sequence-length"), e.getMessage());
        }
    }

    @Test
    void theDefaultPromptSetsAreDisjointAndFixed() {
        DefaultPrompts d = DefaultPrompts.get();
        assertEquals(DefaultPrompts.FIT + DefaultPrompts.TRAIN + DefaultPrompts.HELD_OUT, d.calibration().size());
        java.util.Set<String> cal = new java.util.HashSet<>(d.calibration());
        assertEquals(d.calibration().size(), cal.size());
        for (String p : d.evaluation()) assertFalse(cal.contains(p), p);
        assertEquals(1632 + 553, d.calibration().size() + d.evaluation().size());
        assertEquals(d.evaluation(48, 777), DefaultPrompts.get().evaluation(48, 777));
    }
}
