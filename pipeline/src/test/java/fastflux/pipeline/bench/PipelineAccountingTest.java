package fastflux.pipeline.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.Param;
import fastflux.model.Module;
import fastflux.pipeline.FluxPipeline;
import fastflux.pipeline.clip.ClipTextConfig;
import fastflux.pipeline.clip.ClipTextEncoder;
import fastflux.pipeline.t5.T5Config;
import fastflux.pipeline.t5.T5Encoder;
import fastflux.pipeline.vae.AutoEncoder;
import fastflux.pipeline.vae.AutoEncoderParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The accounting's closed-form parameter counts against the modules the loaders build, and a tiny folder round trip. */
class PipelineAccountingTest {
    private static final Path FIXTURE = Path.of("src/test/resources/fixtures/flux-pipeline-a/diffusers");

    static PipelineAccounting tiny() {
        FluxParams flux = new FluxParams(64, 64, 32, 48, 64, 4.0, 4, 2, 2, new int[] {4, 6, 6}, 10_000, true, true);
        T5Config t5 = new T5Config(120, 48, 12, 64, 2, 4, 32, 128, 1e-6, "gated-gelu");
        ClipTextConfig clip = new ClipTextConfig(664, 32, 64, 2, 4, 77, 1e-5, "quick_gelu", 662, 663, 663);
        AutoEncoderParams ae = new AutoEncoderParams(32, 3, 32, 3, new int[] {1, 2}, 1, 16, 0.3611, 0.1159);
        return new PipelineAccounting(flux, t5, clip, ae);
    }

    private static long count(Module m) {
        long n = 0;
        for (Param p : m.params().values()) n += p.shape().size();
        return n;
    }

    @Test
    void parameterCountsMatchTheBuiltModules() {
        for (PipelineAccounting a : List.of(tiny(), PipelineAccounting.realWidth(), PipelineAccounting.fluxDev())) {
            assertEquals(count(new FluxModel(a.flux())), PipelineAccounting.transformerParams(a.flux()), "transformer " + a.flux());
            assertEquals(count(new T5Encoder(a.t5())), PipelineAccounting.t5Params(a.t5()), "T5 " + a.t5());
            assertEquals(count(new ClipTextEncoder(a.clip())), PipelineAccounting.clipParams(a.clip()), "CLIP");
            assertEquals(count(new AutoEncoder(a.ae())), PipelineAccounting.autoEncoderParams(a.ae()), "autoencoder");
        }
        // The released sizes: 11.9 B transformer, 4.76 B T5-XXL encoder, 123 M CLIP-L text tower, 83.8 M autoencoder.
        PipelineAccounting dev = PipelineAccounting.fluxDev();
        assertEquals(11.9e9, PipelineAccounting.transformerParams(dev.flux()), 0.05e9);
        assertEquals(4.76e9, PipelineAccounting.t5Params(dev.t5()), 0.01e9);
        assertEquals(123e6, PipelineAccounting.clipParams(dev.clip()), 1e6);
        assertEquals(83.8e6, PipelineAccounting.autoEncoderParams(dev.ae()), 0.2e6);
    }

    @Test
    void theWrittenFolderHoldsTheCountedParametersAndLoads(@TempDir Path dir) {
        PipelineAccounting a = tiny();
        assertEquals(PipelineAccounting.transformerParams(a.flux()),
                RandomWeights.count(RandomFluxDirectory.transformerShapes(a.flux())));
        RandomFluxDirectory.write(dir, a, FIXTURE, 1, 0.02);
        FluxPipeline p = FluxPipeline.open(dir);
        assertEquals(a.flux(), p.params());
        assertEquals(a.ae(), p.autoEncoderParams());
        try (NDManager m = NDManager.newBaseManager()) {
            assertEquals(count(p.checkpoint().load(m, DataType.FLOAT32)), PipelineAccounting.transformerParams(a.flux()));
            T5Encoder.load(dir.resolve("text_encoder_2"), m, DataType.FLOAT32);
            ClipTextEncoder.load(dir.resolve("text_encoder"), m).close();
            AutoEncoder.loadDiffusers(dir.resolve("vae"), m, DataType.FLOAT32);
        }
        assertTrue(Files.isRegularFile(dir.resolve("model_index.json")));
    }

    @Test
    void aStageNeedsItsWeightsAndMore() {
        for (PipelineAccounting.Stage s : PipelineAccounting.fluxDev().stages(1024, 1024, 512, 2)) {
            assertTrue(s.activationBytes() > 0 && s.bytes() > s.weightBytes(), s.toString());
        }
        assertEquals("transformer", PipelineAccounting.peak(PipelineAccounting.fluxDev().stages(1024, 1024, 512, 4)).name());
    }
}
