package fastflux.pipeline.layout;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonParser;
import fastflux.model.FluxModel;
import fastflux.model.ModelDir;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** diffusers' FluxTransformer2DModel tensors converted to the BFL reference's, against the fixture's BFL file. */
class DiffusersConversionTest {

    @Test
    void convertedTensorsEqualTheBflFileBitForBit() {
        try (DiffusersTransformer d = DiffusersTransformer.open(LayoutFixture.TRANSFORMER);
             SafetensorsReader bfl = SafetensorsReader.open(LayoutFixture.BFL.resolve("flux.safetensors"))) {
            Map<String, Shape> shapes = new FluxModel(d.params()).expectedShapes();
            assertEquals(Set.copyOf(bfl.names()), shapes.keySet(), "the model's tensors are the BFL file's");
            d.check(shapes);
            Set<String> used = new HashSet<>();
            for (var e : shapes.entrySet()) {
                long[] shape = e.getValue().getShape();
                assertArrayEquals(bfl.info(e.getKey()).shape(), shape, e.getKey());
                float[] want = bfl.readFloats(e.getKey());
                float[] got = d.read(e.getKey(), shape);
                assertEquals(want.length, got.length, e.getKey());
                for (int i = 0; i < want.length; i++) {
                    if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
                        fail(e.getKey() + "[" + i + "]: " + got[i] + " != " + want[i]);
                    }
                }
                DiffusersKeys.sources(e.getKey(), shape, d.params()).forEach(r -> used.add(r.key()));
            }
            assertEquals(d.diffusersNames(), used, "every diffusers tensor feeds exactly the BFL ones");
        }
    }

    @Test
    void configGivesTheBflParams() {
        try (DiffusersTransformer d = DiffusersTransformer.open(LayoutFixture.TRANSFORMER)) {
            assertEquals(ModelDir.readParams(LayoutFixture.BFL), d.params());
        }
    }

    @Test
    void finalModulationHalvesAreSwappedBack() {
        var rows = DiffusersKeys.sources("final_layer.adaLN_modulation.1.weight", new long[] {128, 64},
                ModelDir.readParams(LayoutFixture.BFL));
        assertEquals(2, rows.size());
        assertEquals(new DiffusersKeys.Rows("norm_out.linear.weight", 128, 64, 64), rows.get(0), "shift first");
        assertEquals(new DiffusersKeys.Rows("norm_out.linear.weight", 128, 0, 64), rows.get(1), "then scale");
    }

    @Test
    void missingUnexpectedAndMisShapedTensorsAreNamedWithTheirFile(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("transformer");
        Files.createDirectories(dir);
        Files.copy(LayoutFixture.TRANSFORMER.resolve("config.json"), dir.resolve("config.json"));
        SafetensorsWriter w = new SafetensorsWriter();
        try (DiffusersTransformer d = DiffusersTransformer.open(LayoutFixture.TRANSFORMER)) {
            for (String key : d.diffusersNames()) {
                if (key.equals("transformer_blocks.1.attn.to_k.weight")) continue;
                Path shard = LayoutFixture.TRANSFORMER.resolve(shardOf(key));
                try (SafetensorsReader r = SafetensorsReader.open(shard)) {
                    float[] v = r.readFloats(key);
                    long[] shape = r.info(key).shape();
                    if (key.equals("single_transformer_blocks.0.proj_mlp.bias")) {
                        w.add(key, DType.BF16, new long[] {v.length - 1}, Arrays.copyOf(v, v.length - 1));
                    } else {
                        w.add(key, DType.BF16, shape, v);
                    }
                }
            }
        }
        w.add("transformer_blocks.0.attn.to_extra.weight", DType.BF16, new long[] {2}, new float[] {1, 2});
        w.write(dir.resolve(DiffusersTransformer.SINGLE_FILE));
        try (DiffusersTransformer d = DiffusersTransformer.open(dir)) {
            var e = assertThrows(IllegalArgumentException.class, () -> d.check(new FluxModel(d.params()).expectedShapes()));
            String m = e.getMessage();
            assertTrue(m.contains(DiffusersTransformer.SINGLE_FILE), m);
            assertTrue(m.contains("missing (1): transformer_blocks.1.attn.to_k.weight (for double_blocks.1.img_attn.qkv.weight)"), m);
            assertTrue(m.contains("unexpected (1): transformer_blocks.0.attn.to_extra.weight"), m);
            assertTrue(m.contains("wrong shape (1): single_transformer_blocks.0.proj_mlp.bias [255] in "
                    + DiffusersTransformer.SINGLE_FILE + " (expected [256] for single_blocks.0.linear1.bias)"), m);
        }
    }

    private static String shardOf(String key) throws Exception {
        var index = JsonParser.parseString(
                Files.readString(LayoutFixture.TRANSFORMER.resolve(DiffusersTransformer.INDEX_FILE))).getAsJsonObject();
        return index.getAsJsonObject("weight_map").get(key).getAsString();
    }
}
