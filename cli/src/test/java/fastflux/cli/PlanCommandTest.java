package fastflux.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import fastflux.model.FluxParams;
import fastflux.model.FluxParamsJson;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code fastflux plan} on FLUX.1-dev's config with a header-only weights file (plan reads configs and headers, never
 * weights), and {@code prune} refusing before any work a job its plan cannot fit.
 */
class PlanCommandTest {
    /** A fastflux model directory of FLUX.1-dev's config whose weights file holds one small bf16 tensor. */
    static Path fluxDevConfigOnly(Path dir) throws Exception {
        Files.createDirectories(dir);
        JsonObject cfg = new JsonObject();
        cfg.add("params", FluxParamsJson.toJson(FluxParams.named("flux-dev")));
        Files.writeString(dir.resolve("config.json"), cfg.toString());
        byte[] header = "{\"img_in.bias\":{\"dtype\":\"BF16\",\"shape\":[3072],\"data_offsets\":[0,6144]}}".getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + 6144).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header);
        Files.write(dir.resolve("model.safetensors"), b.array());
        return dir;
    }

    @Test
    void aFluxDevJobThatCannotFitIsRefusedNamingThePhaseAndTheDevice(@TempDir Path tmp) throws Exception {
        Path model = fluxDevConfigOnly(tmp.resolve("flux-dev"));
        MainTest.Outcome r = MainTest.run("plan", "--model", model.toString(), "--ratio", "0.2", "--importance", "output-mse",
                "--memory-limit", "1G", "--no-measure");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains("phase importance needs") && r.err().contains("on cpu, which has 1.00 GiB"), r.err());
        assertTrue(r.out().contains("11,901,408,320 parameters; fp32 on cpu"), r.out());
        assertTrue(r.out().contains("weights (fp32, the job's model, blocks 0..56)") && r.out().contains("44.34 GiB"), r.out());
        assertTrue(r.out().contains("refused: phase importance does not fit on cpu"), r.out());
    }

    @Test
    void aFluxPipelineIsPlannedFromItsSizeOptionsWithoutEncodingPrompts(@TempDir Path tmp) throws Exception {
        Path dir = Path.of("..", "pipeline", "src", "test", "resources", "fixtures", "flux-pipeline-a", "diffusers").toAbsolutePath();
        MainTest.Outcome r = MainTest.run("plan", "--model", dir.toString(), "--ratio", "0.25", "--importance", "output-mse",
                "--width", "64", "--height", "32", "--max-sequence-length", "16", "--fit-prompts", "7", "--no-measure");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("8 + 16 tokens, 7 calibration prompts"), r.out());
    }

    @Test
    void twoGpusEachHoldTheirRangeOfBlocks(@TempDir Path tmp) throws Exception {
        Path model = fluxDevConfigOnly(tmp.resolve("flux-dev"));
        MainTest.Outcome r = MainTest.run("plan", "--model", model.toString(), "--ratio", "0.2", "--importance", "output-mse",
                "--devices", "cuda:0,cuda:1", "--memory-limit", "80G", "--host-memory", "1T", "--no-measure");
        assertTrue(r.out().contains("memory of cuda:0 (capacity 80.00 GiB, --memory-limit)"), r.out());
        // FLUX.1-dev split by bytes: 19 double blocks (about 340 M parameters each) outweigh 38 single ones (141 M)
        assertTrue(r.out().matches("(?s).*weights \\(fp16, blocks 0\\.\\.(1[0-9]|2[0-9])\\).*"), r.out());
        assertTrue(r.out().matches("(?s).*weights \\(fp16, blocks (1[0-9]|2[0-9]|3[0-9])\\.\\.56\\).*"), r.out());
        assertTrue(r.out().contains("memory of cpu (host) (capacity 1.00 TiB, --host-memory)"), r.out());
        assertTrue(r.out().contains("disk written") && r.out().contains("export") && r.out().contains("TFLOP"), r.out());
    }

    @Test
    void pruneRefusesBeforeAnyWorkAJobItsPlanCannotFit(@TempDir Path tmp) {
        Path out = tmp.resolve("out");
        MainTest.Outcome r = MainTest.run("prune", "--model", Path.of("..", "models", "shapes-tiny").toString(), "--ratio", "0.2",
                "--out", out.toString(), "--memory-limit", "1M",
                "--no-eval");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains("fastflux prune: this job cannot fit: phase importance") && r.err().contains("on cpu"), r.err());
        assertFalse(Files.exists(out.resolve("state")), "nothing written");
    }

    @Test
    void aCudaDeviceWithoutACudaRuntimeAsksForAMemoryLimit(@TempDir Path tmp) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(ai.djl.util.cuda.CudaUtils.hasCuda(), "a CUDA runtime is here");
        Path model = fluxDevConfigOnly(tmp.resolve("flux-dev"));
        MainTest.Outcome r = MainTest.run("plan", "--model", model.toString(), "--ratio", "0.2", "--devices", "cuda:0", "--no-measure");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.err().contains("cannot read the memory of cuda:0") && r.err().contains("--memory-limit"), r.err());
    }
}
