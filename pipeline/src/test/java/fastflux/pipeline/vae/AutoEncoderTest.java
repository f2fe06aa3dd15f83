package fastflux.pipeline.vae;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.model.Attention;
import fastflux.model.Param;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The autoencoder against outputs of the BFL reference (fixtures ae-tiny-a and flux-pipeline-a). */
class AutoEncoderTest {
    static final Path TINY = Path.of("src/test/resources/fixtures/ae-tiny-a");
    static final Path PIPELINE = Path.of("src/test/resources/fixtures/flux-pipeline-a");
    static final Path BFL_AE = PIPELINE.resolve("bfl/ae.safetensors");
    static final Path DIFFUSERS_VAE = PIPELINE.resolve("diffusers/vae");

    static JsonObject json(Path file) throws IOException {
        return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
    }

    static AutoEncoderParams tinyParams() throws IOException {
        return AutoEncoderParams.fromJson(json(TINY.resolve("config.json")).getAsJsonObject("params"));
    }

    static AutoEncoderParams pipelineParams() throws IOException {
        return AutoEncoderParams.fromJson(json(PIPELINE.resolve("bfl/config.json")).getAsJsonObject("ae_params"));
    }

    static NDArray read(Path file, String name, NDManager m) {
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            return r.load(name, m, DataType.FLOAT32);
        }
    }

    static double maxAbsDiff(NDArray expected, NDArray got) {
        assertEquals(expected.getShape(), got.getShape());
        float[] a = expected.toFloatArray(), b = got.toFloatArray();
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs((double) a[i] - b[i]));
        return d;
    }

    @Test
    void encodeMatchesTheReference() throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoEncoder ae = AutoEncoder.loadBfl(TINY.resolve("model.safetensors"), tinyParams(), m, DataType.FLOAT32);
            NDArray latent = ae.encode(read(TINY.resolve("inputs.safetensors"), "image", m));
            double err = maxAbsDiff(read(TINY.resolve("expected.safetensors"), "latent", m), latent);
            System.out.printf("ae-tiny-a encode: max abs error %.3g%n", err);
            assertTrue(err <= 1e-4, "latent max abs error " + err);
        }
    }

    @Test
    void decodeMatchesTheReference() throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoEncoder ae = AutoEncoder.loadBfl(TINY.resolve("model.safetensors"), tinyParams(), m, DataType.FLOAT32);
            NDArray image = ae.decode(read(TINY.resolve("expected.safetensors"), "latent", m));
            double err = maxAbsDiff(read(TINY.resolve("expected.safetensors"), "decoded", m), image);
            System.out.printf("ae-tiny-a decode: max abs error %.3g%n", err);
            assertTrue(err <= 1e-4, "decoded max abs error " + err);
        }
    }

    @Test
    void inputsOfTheWrongShapeAreRefused() {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoEncoder ae = new AutoEncoder(AutoEncoderParams.named("tiny"));
            var e = assertThrows(IllegalArgumentException.class, () -> ae.decode(m.zeros(new ai.djl.ndarray.types.Shape(1, 4, 8, 8))));
            assertTrue(e.getMessage().contains("latent [B, 16, H, W], got (1, 4, 8, 8)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ae.encode(m.zeros(new ai.djl.ndarray.types.Shape(3, 32, 32))));
            assertTrue(e.getMessage().contains("image [B, 3, H, W]"), e.getMessage());
        }
    }

    @Test
    void sampledEncodeWithZeroNoiseIsTheMean() throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoEncoder ae = AutoEncoder.loadBfl(TINY.resolve("model.safetensors"), tinyParams(), m, DataType.FLOAT32);
            NDArray image = read(TINY.resolve("inputs.safetensors"), "image", m);
            NDArray mean = ae.encode(image);
            NDArray sampled = ae.encode(image, m.zeros(mean.getShape()));
            assertEquals(0.0, maxAbsDiff(mean, sampled));
        }
    }

    @Test
    void bothLayoutsDecodeThePipelineLatentsAlike() throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoEncoder bfl = AutoEncoder.loadBfl(BFL_AE, pipelineParams(), m, DataType.FLOAT32);
            AutoEncoder diffusers = AutoEncoder.loadDiffusers(DIFFUSERS_VAE, m, DataType.FLOAT32);
            assertEquals(bfl.config(), diffusers.config(), "config.json of both layouts");
            NDArray latents = read(PIPELINE.resolve("expected.safetensors"), "latents_final", m);
            NDArray expected = read(PIPELINE.resolve("expected.safetensors"), "image", m);
            NDArray fromBfl = bfl.decode(latents);
            NDArray fromDiffusers = diffusers.decode(latents);
            double errBfl = maxAbsDiff(expected, fromBfl), errDiffusers = maxAbsDiff(expected, fromDiffusers);
            System.out.printf("flux-pipeline-a image: max abs error %.3g (BFL), %.3g (diffusers)%n", errBfl, errDiffusers);
            assertTrue(errBfl <= 1e-3, "BFL layout: image max abs error " + errBfl);
            assertTrue(errDiffusers <= 1e-3, "diffusers layout: image max abs error " + errDiffusers);
            assertArrayEquals(fromBfl.toFloatArray(), fromDiffusers.toFloatArray(), "identical outputs from both layouts");
        }
    }

    @Test
    void fp16DecodeStaysCloseToFp32() throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray latents = read(PIPELINE.resolve("expected.safetensors"), "latents_final", m);
            NDArray full = AutoEncoder.loadBfl(BFL_AE, pipelineParams(), m, DataType.FLOAT32).decode(latents);
            AutoEncoder half = AutoEncoder.loadBfl(BFL_AE, pipelineParams(), m, DataType.FLOAT16);
            assertEquals(DataType.FLOAT16, half.dtype());
            NDArray image = half.decode(latents);
            assertEquals(DataType.FLOAT32, image.getDataType());
            double err = maxAbsDiff(full, image);
            System.out.printf("flux-pipeline-a fp16 decode: max abs error %.3g against fp32%n", err);
            assertTrue(err <= 2e-2, "fp16 image max abs error " + err);
        }
    }

    @Test
    void attentionTiledOverQueriesGivesTheSameImage() throws IOException {
        long saved = Attention.maxScoreElements;
        try (NDManager m = NDManager.newBaseManager()) {
            AutoEncoder ae = AutoEncoder.loadBfl(BFL_AE, pipelineParams(), m, DataType.FLOAT32);
            NDArray latents = read(PIPELINE.resolve("expected.safetensors"), "latents_final", m);
            NDArray whole = ae.decode(latents);
            // 2 images x 256 positions: 256 elements per tile is one query row per tile.
            Attention.maxScoreElements = 2 * 256;
            NDArray tiled = ae.decode(latents);
            assertTrue(maxAbsDiff(whole, tiled) <= 1e-6, "tiled attention max abs difference " + maxAbsDiff(whole, tiled));
        } finally {
            Attention.maxScoreElements = saved;
        }
    }

    @Test
    void aForwardLeavesOnlyItsResult() throws IOException {
        try (NDManager weights = NDManager.newBaseManager(); NDManager calls = weights.newSubManager()) {
            AutoEncoder ae = AutoEncoder.loadBfl(BFL_AE, pipelineParams(), weights, DataType.FLOAT32);
            int held = ((BaseNDManager) weights).getManagedArrays().size();
            NDArray latents = read(PIPELINE.resolve("expected.safetensors"), "latents_final", calls);
            NDArray image = ae.decode(latents);
            NDArray latent = ae.encode(image);
            List<NDArray> left = ((BaseNDManager) calls).getManagedArrays();
            assertEquals(3, left.size(), "arrays left in the caller's manager");
            assertTrue(left.containsAll(List.of(latents, image, latent)), "the input and the results");
            // getManagedArrays counts sub-managers' arrays too: the weights' manager holds the weights and those three.
            assertEquals(held + 3, ((BaseNDManager) weights).getManagedArrays().size(), "arrays left beside the weights");
        }
    }

    @Test
    void savedInTheDiffusersLayoutLoadsBackTheSameWeights(@TempDir Path dir) throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoEncoder bfl = AutoEncoder.loadBfl(BFL_AE, pipelineParams(), m, DataType.FLOAT32);
            Path file = dir.resolve("vae.safetensors");
            bfl.save(file, AutoEncoderLayout.DIFFUSERS, DType.BF16);
            try (SafetensorsReader saved = SafetensorsReader.open(file);
                 SafetensorsReader fixture = SafetensorsReader.open(DIFFUSERS_VAE.resolve(AutoEncoder.DIFFUSERS_WEIGHTS))) {
                assertEquals(java.util.Set.copyOf(fixture.names()), java.util.Set.copyOf(saved.names()), "diffusers key set");
                for (String name : fixture.names()) {
                    assertArrayEquals(fixture.readFloats(name), saved.readFloats(name), name);
                }
            }
            AutoEncoder back = AutoEncoder.load(file, AutoEncoderLayout.DIFFUSERS, pipelineParams(), m, DataType.FLOAT32);
            for (Param p : bfl.params().values()) {
                assertArrayEquals(p.value().toFloatArray(), back.params().get(p.name()).value().toFloatArray(), p.name());
            }
        }
    }

    @Test
    void aMismatchedCheckpointNamesTheFileAndEveryTensor(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("ae.safetensors");
        try (SafetensorsReader r = SafetensorsReader.open(BFL_AE)) {
            var w = new fastflux.model.io.SafetensorsWriter();
            for (String name : r.names()) {
                if (name.equals("decoder.mid.attn_1.q.weight")) continue; // missing
                long[] shape = r.info(name).shape();
                if (name.equals("encoder.conv_in.bias")) shape = new long[] {1, shape[0]}; // mis-shaped
                w.add(name, DType.F32, shape, r.readFloats(name));
            }
            w.add("decoder.up.0.attn.0.q.weight", DType.F32, new long[] {1}, new float[] {0}); // unexpected
            w.write(file);
        }
        try (NDManager m = NDManager.newBaseManager()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> AutoEncoder.loadBfl(file, pipelineParams(), m, DataType.FLOAT32));
            String msg = e.getMessage();
            assertTrue(msg.contains(file.toString()), msg);
            assertTrue(msg.contains("missing (1): decoder.mid.attn_1.q.weight"), msg);
            assertTrue(msg.contains("unexpected (1): decoder.up.0.attn.0.q.weight"), msg);
            assertTrue(msg.contains("wrong shape (1): encoder.conv_in.bias (1, 32) (expected (32))"), msg);
        }
    }

    @Test
    void aDiffusersCheckpointForAnotherConfigNamesItsOwnKeys() throws IOException {
        AutoEncoderParams deeper = new AutoEncoderParams(32, 3, 32, 3, new int[] {1, 2, 2}, 1, 16, 0.3611, 0.1159);
        Path file = DIFFUSERS_VAE.resolve(AutoEncoder.DIFFUSERS_WEIGHTS);
        try (NDManager m = NDManager.newBaseManager()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> AutoEncoder.load(file, AutoEncoderLayout.DIFFUSERS, deeper, m, DataType.FLOAT32));
            String msg = e.getMessage();
            assertTrue(msg.contains(file.toString()) && msg.contains("DIFFUSERS layout"), msg);
            assertTrue(msg.contains("decoder.up_blocks.2.resnets.0.conv1.weight"), msg);
            assertTrue(msg.contains("encoder.down_blocks.1.downsamplers.0.conv.weight"), msg);
        }
    }
}
