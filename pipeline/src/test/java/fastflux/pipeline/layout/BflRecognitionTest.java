package fastflux.pipeline.layout;

import static org.junit.jupiter.api.Assertions.*;

import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.pipeline.layout.FluxCheckpoint.Layout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * FLUX.1-dev and FLUX.1-schnell told apart by their weights alone, as the BFL release ships them without a config.
 * The files here hold headers of the real shapes and no data.
 */
class BflRecognitionTest {

    static Path headerOf(String config, Path dir) throws Exception {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        new FluxModel(FluxParams.named(config)).expectedShapes().forEach((k, v) -> shapes.put(k, v.getShape()));
        Path file = dir.resolve("flux1-" + config.substring(5) + ".safetensors");
        LayoutFixture.writeHeaderOnly(file, shapes, "BF16", 2, 0);
        return file;
    }

    @Test
    void devIsRecognisedByItsGuidanceEmbedding(@TempDir Path dir) throws Exception {
        Path file = headerOf("flux-dev", dir);
        assertEquals(FluxParams.named("flux-dev"), BflWeights.recognise(SafetensorsHeader.read(file)));
        FluxCheckpoint c = FluxCheckpoint.open(dir);
        assertEquals(Layout.BFL, c.layout());
        assertEquals(FluxParams.named("flux-dev"), c.params());
        assertEquals("recognised as FLUX.1-dev from the weights", c.paramsSource());
    }

    @Test
    void schnellIsRecognisedWithoutOne(@TempDir Path dir) throws Exception {
        Path file = headerOf("flux-schnell", dir);
        assertEquals(FluxParams.named("flux-schnell"), BflWeights.recognise(SafetensorsHeader.read(file)));
        assertEquals("recognised as FLUX.1-schnell from the weights", FluxCheckpoint.open(dir).paramsSource());
    }

    @Test
    void otherSizesWithoutConfigAskForOne(@TempDir Path dir) throws Exception {
        Files.copy(LayoutFixture.BFL.resolve("flux.safetensors"), dir.resolve("flux.safetensors"));
        var e = assertThrows(IllegalArgumentException.class, () -> FluxCheckpoint.open(dir));
        String m = e.getMessage();
        assertTrue(m.contains("neither FLUX.1-dev nor FLUX.1-schnell"), m);
        assertTrue(m.contains("hidden_size 64, head_dim 16"), m);
        assertTrue(m.contains("depth 2, depth_single_blocks 2"), m);
        assertTrue(m.contains("config.json with \"params\""), m);
    }
}
