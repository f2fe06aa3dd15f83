package fastflux.pipeline.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLIP text tower against Hugging Face {@code CLIPTextModel} outputs (fixtures/flux-pipeline-a), in fp32. */
class ClipTextEncoderTest {

    @Test
    void hiddenAndPooledMatchTheReference() {
        long[][] ids = ClipFixture.expectedIds();
        try (NDManager m = NDManager.newBaseManager("PyTorch");
             ClipTextEncoder encoder = ClipTextEncoder.load(ClipFixture.TEXT_ENCODER, m);
             ClipTextEncoder.Output out = encoder.forward(ids, m)) {
            assertEquals(new Shape(2, 77, 32), out.hidden().getShape());
            assertEquals(new Shape(2, 32), out.pooled().getShape());
            float hidden = ClipFixture.maxAbsDiff(out.hidden().toFloatArray(), ClipFixture.expectedFloats("clip_hidden"));
            float pooled = ClipFixture.maxAbsDiff(out.pooled().toFloatArray(), ClipFixture.expectedFloats("clip_pooled"));
            System.out.printf("clip_hidden max abs error %.3g, clip_pooled %.3g%n", hidden, pooled);
            assertTrue(hidden < 1e-4, "clip_hidden max abs error " + hidden);
            assertTrue(pooled < 1e-4, "clip_pooled max abs error " + pooled);
        }
    }

    @Test
    void poolsAtTheFirstEndOfText() {
        ClipTextConfig config = ClipTextConfig.read(ClipFixture.TEXT_ENCODER.resolve("config.json"));
        long[][] ids = ClipFixture.expectedIds();
        long[] expected = ClipFixture.expectedLongs("clip_eos_index");
        for (int i = 0; i < ids.length; i++) {
            assertEquals(expected[i], ClipTextEncoder.poolIndex(ids[i], config), "row " + i);
        }
        assertEquals(2, ClipTextEncoder.poolIndex(new long[] {662, 7, 663, 663}, config));
        assertEquals(0, ClipTextEncoder.poolIndex(new long[] {662, 7, 8}, config), "no eos: torch's argmax of none");
        // The original CLIP configs say eos 2: pooling then reads the first largest id, whatever id 2 is.
        ClipTextConfig legacy = ClipTextConfig.clipL();
        assertEquals(2, ClipTextEncoder.poolIndex(new long[] {49406, 2, 49407, 49407}, legacy));
    }

    @Test
    void forwardLeavesNothingInTheWeightsManager() {
        long[][] ids = ClipFixture.expectedIds();
        try (NDManager m = NDManager.newBaseManager("PyTorch");
             ClipTextEncoder encoder = ClipTextEncoder.load(ClipFixture.TEXT_ENCODER, m)) {
            int weights = encoder.weightsManager().getManagedArrays().size();
            try (NDManager call = m.newSubManager()) {
                encoder.forward(ids, call).close();
                assertEquals(0, call.getManagedArrays().size(), "arrays left in the caller's manager");
            }
            assertEquals(weights, encoder.weightsManager().getManagedArrays().size());
        }
    }

    @Test
    void missingTensorIsNamedWithTheFile(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("text_encoder");
        Files.createDirectories(dir);
        Files.copy(ClipFixture.TEXT_ENCODER.resolve("config.json"), dir.resolve("config.json"));
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsReader r = SafetensorsReader.open(ClipFixture.TEXT_ENCODER.resolve("model.safetensors"))) {
            for (String name : r.names()) {
                if (name.equals("text_model.encoder.layers.1.mlp.fc2.bias")) continue;
                if (name.equals("text_model.final_layer_norm.weight")) {
                    w.add(name, DType.BF16, new long[] {31}, new float[31]);
                    continue;
                }
                w.add(name, r.info(name).dtype(), r.info(name).shape(), r.readFloats(name));
            }
        }
        w.add("text_model.encoder.layers.2.mlp.fc1.weight", DType.F32, new long[] {1}, new float[1]);
        w.write(file);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ClipTextEncoder.load(dir, m));
            String msg = e.getMessage();
            assertTrue(msg.contains(file.toString()), msg);
            assertTrue(msg.contains("missing (1): text_model.encoder.layers.1.mlp.fc2.bias"), msg);
            assertTrue(msg.contains("unexpected (1): text_model.encoder.layers.2.mlp.fc1.weight"), msg);
            assertTrue(msg.contains("text_model.final_layer_norm.weight (31)"), msg);
            assertEquals(0, m.getManagedArrays().size(), "a failed load frees what it loaded");
        }
    }

    @Test
    void laterTokensDoNotChangeEarlierPositions() {
        long[][] ids = ClipFixture.expectedIds();
        long[][] changed = {ids[0].clone()};
        changed[0][5] = 100;
        try (NDManager m = NDManager.newBaseManager("PyTorch");
             ClipTextEncoder encoder = ClipTextEncoder.load(ClipFixture.TEXT_ENCODER, m);
             ClipTextEncoder.Output a = encoder.forward(new long[][] {ids[0]}, m);
             ClipTextEncoder.Output b = encoder.forward(changed, m)) {
            float[] ha = a.hidden().toFloatArray();
            float[] hb = b.hidden().toFloatArray();
            int h = 32;
            for (int i = 0; i < 5 * h; i++) assertEquals(ha[i], hb[i], 0f, "position " + i / h);
            assertTrue(ClipFixture.maxAbsDiff(java.util.Arrays.copyOfRange(ha, 5 * h, 6 * h),
                    java.util.Arrays.copyOfRange(hb, 5 * h, 6 * h)) > 1e-3);
        }
    }

    @Test
    void saveAndLoadRoundTrip(@TempDir Path tmp) {
        long[][] ids = ClipFixture.expectedIds();
        Path file = tmp.resolve("model.safetensors");
        try (NDManager m = NDManager.newBaseManager("PyTorch");
             ClipTextEncoder encoder = ClipTextEncoder.load(ClipFixture.TEXT_ENCODER, m)) {
            SafetensorsWriter w = new SafetensorsWriter();
            encoder.params().forEach((name, p) -> w.add(name, p.value(), DType.F32));
            w.write(file);
            try (ClipTextEncoder reloaded = ClipTextEncoder.load(encoder.config(), file, m);
                 ClipTextEncoder.Output a = encoder.forward(ids, m);
                 ClipTextEncoder.Output b = reloaded.forward(ids, m)) {
                assertArrayEquals(a.hidden().toFloatArray(), b.hidden().toFloatArray());
                assertArrayEquals(a.pooled().toFloatArray(), b.pooled().toFloatArray());
            }
        }
    }

    @Test
    void quickGeluIsXTimesSigmoidOf1702X() {
        float[] x = {-2f, 0f, 1f, 3f};
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] y = ClipEncoderLayer.quickGelu(fastflux.model.Tensors.create(m, x, new Shape(x.length))).toFloatArray();
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i] / (1 + Math.exp(-1.702 * x[i])), y[i], 1e-6, "x = " + x[i]);
            }
        }
    }

    @Test
    void causalMaskIsZeroOnAndBelowTheDiagonal() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] mask = ClipEncoderLayer.causalMask(m, 3).toFloatArray();
            float inf = Float.NEGATIVE_INFINITY;
            assertArrayEquals(new float[] {0, inf, inf, 0, 0, inf, 0, 0, 0}, mask);
        }
    }
}
