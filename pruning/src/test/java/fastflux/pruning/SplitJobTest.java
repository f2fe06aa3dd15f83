package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import fastflux.model.BlockPlacement;
import fastflux.model.Param;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A whole job on a transformer split over two devices (both the CPU here: DJL's PyTorch engine has one CPU device, so
 * the ranges and managers are real but no tensor moves between devices) replaces the same blocks, exports the same
 * bytes and reports the same output fidelity as the job on one device; its loaded weights stay in their device's manager.
 */
class SplitJobTest {
    @Test
    void aJobSplitOverTwoDevicesGivesTheOneDeviceJobsExportAndFigures(@TempDir Path tmp) throws Exception {
        Path base = FluxCheckpointJobTest.fluxDir(tmp.resolve("flux"));
        Path calib = FluxCheckpointJobTest.calibFile(tmp.resolve("calib.safetensors"), 5);
        JsonObject[] reports = new JsonObject[2];
        List<List<Device>> devices = List.of(List.of(), List.of(Device.cpu(), Device.cpu()));
        for (int k = 0; k < 2; k++) {
            Path out = tmp.resolve("out" + k);
            try (NDManager m = NDManager.newBaseManager()) {
                PruneJob job = new PruneJob(base, out, PruneJobTest.options(0.34), Map.of(), PruneJob.Listener.NONE, m,
                        DataType.FLOAT32, devices.get(k)).calibrationFrom(calib);
                reports[k] = job.runAll(List.of("a circle"), 1, "x");
                BlockPlacement pl = job.flux().placement();
                if (k == 0) {
                    assertNull(pl, "one device: no split");
                    continue;
                }
                assertNotNull(pl);
                Map<String, Param> all = new java.util.LinkedHashMap<>(job.flux().params());
                all.putAll(fastflux.model.LoraInjector.trainableParams(job.flux()));
                for (Param p : all.values()) {
                    assertEquals(pl.devices().get(pl.deviceIndexOf(p.name(), job.flux().config())), p.value().getDevice(), p.name());
                }
                // the weights loaded stay in their device's manager through the whole job (fitted linears and adapters
                // are made in the job's manager and moved only to another device, which the CPU never is)
                for (Param p : job.flux().params().values()) {
                    if (p.name().contains("linear") || p.name().contains("lora_")) continue;
                    assertSame(job.flux().managerFor(p.name()), p.value().getManager(), p.name() + " in its device's manager");
                }
            }
        }
        assertArrayEquals(Files.readAllBytes(tmp.resolve("out0/model.safetensors")), Files.readAllBytes(tmp.resolve("out1/model.safetensors")),
                "the same export bytes");
        assertEquals(reports[0].getAsJsonArray("order"), reports[1].getAsJsonArray("order"));
        assertEquals(reports[0].getAsJsonObject("output_fidelity"), reports[1].getAsJsonObject("output_fidelity"));
    }
}
