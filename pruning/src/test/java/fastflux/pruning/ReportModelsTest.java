package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import fastflux.model.FluxModel;
import fastflux.model.ModelDir;
import fastflux.model.Param;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The report's base and export share the job's weights: on a tiny FLUX.1 checkpoint job (2 blocks replaced, their
 * neighbours adapted) every parameter equals the one a full load of the base or the export gives, the blocks the export
 * changed are read from it, everything else is the job's own array, less than one model's bytes are read, and the
 * report's output fidelity is the figure the two full models give.
 */
class ReportModelsTest {
    @Test
    void theReportComparesTheBaseAndTheExportAroundOneCopyOfTheSharedWeights(@TempDir Path tmp) throws Exception {
        Path base = FluxCheckpointJobTest.fluxDir(tmp.resolve("flux"));
        Path calib = FluxCheckpointJobTest.calibFile(tmp.resolve("calib.safetensors"), 5);
        Path out = tmp.resolve("out");
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = new PruneJob(base, out, PruneJobTest.options(0.34), PruneJob.Listener.NONE, m).calibrationFrom(calib);
            JsonObject report = job.runAll(java.util.List.of("a circle"), 1, "x");
            FluxModel jobModel = job.flux();
            try (NDManager rm = m.newSubManager(); NDManager full = m.newSubManager()) {
                ReportModels views = job.reportModels(rm);
                FluxModel fullBase = ModelDir.load(base, full, DataType.FLOAT32, Set.of());
                FluxModel fullExport = ModelDir.load(out, full, DataType.FLOAT32, Set.of());
                assertEquals(2, views.replaced().size(), views.replaced().toString());
                assertTrue(views.changed().size() > views.replaced().size(), "the sandwiches adapted neighbours: " + views.changed());
                long fullBytes = 0;
                for (Param p : fullBase.params().values()) fullBytes += p.value().size() * 4;
                assertTrue(views.readBytes() < fullBytes, views.readBytes() + " bytes read, a full model is " + fullBytes);
                check(views.base(), fullBase, views.replaced(), jobModel, "base");
                check(views.pruned(), fullExport, views.changed(), jobModel, "export");
                // the figures: the report's output fidelity is the one of the two fully loaded models
                JsonObject was = job.outputFidelity(fullExport, fullBase).toJson();
                JsonObject is = report.getAsJsonObject("output_fidelity");
                assertEquals(was.get("step_rel_mse").getAsDouble(), is.get("step_rel_mse").getAsDouble(), 0.0);
                assertEquals(was.get("latent_rel_mse").getAsDouble(), is.get("latent_rel_mse").getAsDouble(), 0.0);
                assertEquals(was.getAsJsonArray("step_rel_mse_per_step"), is.getAsJsonArray("step_rel_mse_per_step"));
            }
        }
    }

    /** Every parameter of {@code view} equals {@code full}'s; those of the {@code own} blocks are its own, the rest the job's. */
    private static void check(FluxModel view, FluxModel full, Set<String> own, FluxModel job, String what) {
        Map<String, Param> f = full.params();
        assertEquals(f.keySet(), view.params().keySet(), what + ": the same parameters");
        Map<String, Param> j = job.params();
        for (Param p : view.params().values()) {
            assertArrayEquals(f.get(p.name()).value().toFloatArray(), p.value().toFloatArray(), what + " " + p.name());
            boolean mine = own.contains(ReportModels.blockPrefix(p.name()));
            Param shared = j.get(p.name());
            if (mine) {
                assertFalse(shared != null && shared.value() == p.value(), what + " " + p.name() + " is read from its directory");
            } else {
                assertSame(shared.value(), p.value(), what + " " + p.name() + " is the job's array");
            }
        }
    }
}
