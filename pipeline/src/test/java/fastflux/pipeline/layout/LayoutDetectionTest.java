package fastflux.pipeline.layout;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.ModelDir;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import fastflux.pipeline.layout.FluxCheckpoint.Layout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which layout a directory holds, and the errors for directories that hold none or a quantized checkpoint. */
class LayoutDetectionTest {
    static final FluxParams TINY = ModelDir.readParams(LayoutFixture.BFL);

    @Test
    void diffusersFolderIsRecognised() {
        FluxCheckpoint c = FluxCheckpoint.open(LayoutFixture.DIFFUSERS);
        assertEquals(Layout.DIFFUSERS, c.layout());
        assertEquals(TINY, c.params());
        assertEquals(LayoutFixture.TRANSFORMER, c.weights());
    }

    @Test
    void bflFolderIsRecognisedWithItsConfig() {
        FluxCheckpoint c = FluxCheckpoint.open(LayoutFixture.BFL);
        assertEquals(Layout.BFL, c.layout());
        assertEquals(TINY, c.params());
        assertEquals(LayoutFixture.BFL.resolve("flux.safetensors"), c.weights(), "not ae.safetensors");
        assertTrue(c.paramsSource().contains("config.json"), c.paramsSource());
    }

    @Test
    void fastfluxDirectoryLoadsThroughModelDir(@TempDir Path dir) throws Exception {
        Files.copy(LayoutFixture.BFL.resolve("config.json"), dir.resolve("config.json"));
        Files.copy(LayoutFixture.BFL.resolve("flux.safetensors"), dir.resolve("model.safetensors"));
        FluxCheckpoint c = FluxCheckpoint.open(dir);
        assertEquals(Layout.FASTFLUX, c.layout());
        assertEquals(TINY, c.params());
    }

    @Test
    void bflFileOfAnyNameBesideDiffusersLoadsWhenAskedFor(@TempDir Path dir) throws Exception {
        Files.copy(LayoutFixture.DIFFUSERS.resolve("model_index.json"), dir.resolve("model_index.json"));
        LayoutFixture.copyFiles(LayoutFixture.TRANSFORMER, dir.resolve("transformer"));
        Files.copy(LayoutFixture.BFL.resolve("flux.safetensors"), dir.resolve("flux1-tiny.safetensors"));
        Files.copy(LayoutFixture.BFL.resolve("ae.safetensors"), dir.resolve("ae.safetensors"));
        Files.copy(LayoutFixture.BFL.resolve("config.json"), dir.resolve("config.json"));
        assertEquals(Layout.DIFFUSERS, FluxCheckpoint.open(dir).layout(), "diffusers unless BFL is asked for");
        FluxCheckpoint bfl = FluxCheckpoint.open(dir, Layout.parse("bfl"));
        assertEquals(Layout.BFL, bfl.layout());
        assertEquals(dir.resolve("flux1-tiny.safetensors"), bfl.weights());
    }

    @Test
    void directoryOfNoLayoutSaysWhatWasLookedFor(@TempDir Path dir) throws Exception {
        Files.copy(LayoutFixture.BFL.resolve("ae.safetensors"), dir.resolve("ae.safetensors"));
        Files.writeString(dir.resolve("notes.txt"), "not a model");
        var e = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(dir));
        String m = e.getMessage();
        assertTrue(m.contains("model_index.json"), m);
        assertTrue(m.contains(BflWeights.MARKER_KEY), m);
        assertTrue(m.contains("config.json with \"params\" and model.safetensors"), m);
        assertTrue(m.contains("found ae.safetensors, notes.txt"), m);
    }

    @Test
    void askedLayoutThatIsNotThereIsAnError() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> FluxCheckpoint.open(LayoutFixture.BFL, Layout.DIFFUSERS));
        assertTrue(e.getMessage().contains("looked for a diffusers FluxPipeline folder"), e.getMessage());
        var unknown = assertThrows(IllegalArgumentException.class, () -> Layout.parse("comfy"));
        assertTrue(unknown.getMessage().contains("diffusers, bfl, fastflux"), unknown.getMessage());
    }

    @Test
    void fp8CheckpointIsRefusedByName(@TempDir Path dir) throws Exception {
        LayoutFixture.writeHeaderOnly(dir.resolve("flux1-dev-fp8.safetensors"), tinyShapes(), "F8_E4M3", 1, 0);
        var e = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(dir));
        assertTrue(e.getMessage().contains("fp8-quantized checkpoint (dtype F8_E4M3"), e.getMessage());
        assertTrue(e.getMessage().contains("flux1-dev-fp8.safetensors"), e.getMessage());
    }

    @Test
    void ggufFileIsRefusedByName(@TempDir Path dir) throws Exception {
        Files.write(dir.resolve("flux1-dev-Q4_0.gguf"), new byte[] {'G', 'G', 'U', 'F'});
        var e = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(dir));
        assertTrue(e.getMessage().contains("GGUF checkpoints are quantized"), e.getMessage());
        assertTrue(e.getMessage().contains("flux1-dev-Q4_0.gguf"), e.getMessage());
    }

    @Test
    void bitsandbytesCheckpointIsRefusedByName(@TempDir Path dir) throws Exception {
        Map<String, long[]> shapes = new LinkedHashMap<>(tinyShapes());
        shapes.put(BflWeights.MARKER_KEY + ".absmax", new long[] {192});
        shapes.put(BflWeights.MARKER_KEY + ".quant_state.bitsandbytes__nf4", new long[] {64});
        LayoutFixture.writeHeaderOnly(dir.resolve("flux1-dev-bnb-nf4.safetensors"), shapes, "U8", 1, 0);
        var e = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(dir));
        assertTrue(e.getMessage().contains("bitsandbytes-quantized checkpoint"), e.getMessage());
        assertTrue(e.getMessage().contains(".absmax"), e.getMessage());
    }

    @Test
    void quantizedDiffusersShardIsRefusedByName(@TempDir Path dir) throws Exception {
        Files.copy(LayoutFixture.DIFFUSERS.resolve("model_index.json"), dir.resolve("model_index.json"));
        Path t = Files.createDirectories(dir.resolve("transformer"));
        Files.copy(LayoutFixture.TRANSFORMER.resolve("config.json"), t.resolve("config.json"));
        LayoutFixture.writeHeaderOnly(t.resolve(DiffusersTransformer.SINGLE_FILE),
                Map.of("x_embedder.weight", new long[] {64, 64}), "F8_E5M2", 1, 0);
        var e = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(dir));
        assertTrue(e.getMessage().contains("F8_E5M2"), e.getMessage());
    }

    @Test
    void missingBflTensorIsNamedWithItsFile(@TempDir Path dir) throws Exception {
        Files.copy(LayoutFixture.BFL.resolve("config.json"), dir.resolve("config.json"));
        var w = new SafetensorsWriter();
        try (var r = SafetensorsReader.open(LayoutFixture.BFL.resolve("flux.safetensors"))) {
            for (String name : r.names()) {
                if (!name.equals("single_blocks.1.linear2.weight")) {
                    w.add(name, DType.BF16, r.info(name).shape(), r.readFloats(name));
                }
            }
        }
        w.write(dir.resolve("flux-tiny.safetensors"));
        FluxCheckpoint c = FluxCheckpoint.open(dir);
        try (var m = NDManager.newBaseManager()) {
            var e = assertThrows(IllegalArgumentException.class, () -> c.load(m, DataType.FLOAT32));
            assertTrue(e.getMessage().contains("flux-tiny.safetensors"), e.getMessage());
            assertTrue(e.getMessage().contains("missing (1): single_blocks.1.linear2.weight"), e.getMessage());
        }
    }

    /** The tiny model's BFL tensor shapes. */
    static Map<String, long[]> tinyShapes() {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        new FluxModel(TINY).expectedShapes().forEach((k, v) -> shapes.put(k, v.getShape()));
        return shapes;
    }
}
