package fastflux.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code fastflux gpu-check --device cpu}: the fixture shipped in the jar, both parity lines, a timed forward. */
class GpuCheckCommandTest {
    @Test
    void theCpuModePassesBothParityLinesAndTimesAForward() {
        MainTest.Outcome r = MainTest.run("gpu-check", "--device", "cpu", "--width", "256", "--tokens", "32", "--runs", "1");
        assertEquals(0, r.status(), r.out() + r.err());
        assertTrue(r.out().contains("parity fp32: PASS, max abs error"), r.out());
        assertTrue(r.out().contains("parity fp16: PASS, max abs error"), r.out());
        assertTrue(r.out().contains("timed forward: one single block, width 256, 32 tokens, fp32 on cpu"), r.out());
        assertTrue(r.out().contains("gpu-check: passed"), r.out());
    }

    @Test
    void aFixtureThatDisagreesFails(@TempDir Path tmp) throws Exception {
        // the shipped fixture with its expected prediction replaced by another tensor of the same shape
        Path src = Path.of("src/main/resources/fastflux/fixtures/flux-tiny-a");
        Path dir = Files.createDirectories(tmp.resolve("flux-tiny-a"));
        for (String f : new String[] {"config.json", "model.safetensors", "inputs.safetensors"}) Files.copy(src.resolve(f), dir.resolve(f));
        try (var m = ai.djl.ndarray.NDManager.newBaseManager();
             var reader = fastflux.model.io.SafetensorsReader.open(src.resolve("expected.safetensors"))) {
            fastflux.model.io.SafetensorsWriter w = new fastflux.model.io.SafetensorsWriter();
            for (String name : reader.names()) {
                var a = reader.load(name, m, ai.djl.ndarray.types.DataType.FLOAT32);
                w.add(name, name.equals("pred") ? a.add(a.onesLike()) : a, fastflux.model.io.DType.F32);
            }
            w.write(dir.resolve("expected.safetensors"));
        }
        MainTest.Outcome r = MainTest.run("gpu-check", "--device", "cpu", "--fixtures", tmp.toString(), "--width", "128",
                "--tokens", "16", "--runs", "1");
        assertEquals(1, r.status(), r.out());
        assertTrue(r.out().contains("parity fp32: FAIL") && r.out().contains("worst pred"), r.out());
        assertTrue(r.out().contains("gpu-check: FAILED"), r.out());
    }
}
