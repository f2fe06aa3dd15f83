package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.FluxParamsJson;
import fastflux.model.ModelDir;
import fastflux.model.Param;
import fastflux.model.PrunedModels;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A FLUX.1 transformer checkpoint, as the foundation's loader reads it (config.json + bf16 model.safetensors under the
 * reference names, no text encoder), pruned from a file of precomputed conditioning: the run needs no Shapes model,
 * keeps bf16, and names what it cannot do (no calibration file, image-judging importance).
 */
class FluxCheckpointJobTest {
    /** FLUX-dev's shape in miniature: guidance embedding, vec_in_dim != context_in_dim, 2 double + 4 single blocks. */
    static final FluxParams PARAMS =
            new FluxParams(16, 16, 24, 40, 32, 2.0, 2, 2, 4, new int[] {4, 6, 6}, 10000, true, true);

    static Path fluxDir(Path dir) throws Exception {
        Files.createDirectories(dir);
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel flux = new FluxModel(PARAMS);
            flux.initRandom(m, DataType.FLOAT32, 5);
            SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
            for (Param p : flux.params().values()) w.add(p.name(), p.value(), DType.BF16);
            w.write(dir.resolve("model.safetensors"));
        }
        JsonObject cfg = new JsonObject();
        cfg.add("params", FluxParamsJson.toJson(PARAMS));
        Files.writeString(dir.resolve("config.json"), cfg.toString());
        return dir;
    }

    /** n prompts of T5-like states [n, 6, 40] and pooled vectors [n, 24], BF16, at a 3 x 4 latent grid. */
    static Path calibFile(Path file, int n) {
        java.util.Random r = new java.util.Random(9);
        float[] txt = new float[n * 6 * 40];
        float[] y = new float[n * 24];
        for (int i = 0; i < txt.length; i++) txt[i] = (float) r.nextGaussian();
        for (int i = 0; i < y.length; i++) y[i] = (float) r.nextGaussian();
        new SafetensorsWriter().metadata(PrecomputedCalibrationSource.LATENT_GRID, "3x4")
                .add("txt", DType.BF16, new long[] {n, 6, 40}, txt)
                .add("y", DType.BF16, new long[] {n, 24}, y)
                .write(file);
        return file;
    }

    @Test
    void aFluxCheckpointIsPrunedFromPrecomputedConditioningAndStaysBf16(@TempDir Path tmp) throws Exception {
        Path base = fluxDir(tmp.resolve("flux"));
        Path calib = calibFile(tmp.resolve("calib.safetensors"), 5);
        Path out = tmp.resolve("out");
        JsonObject report;
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = new PruneJob(base, out, PruneJobTest.options(0.34), PruneJob.Listener.NONE, m).calibrationFrom(calib);
            assertTrue(job.transformerOnly());
            // asked for the quality comparison, it says why there is none instead of failing
            report = job.runAll(java.util.List.of("a circle"), 1, "x");
        }
        assertEquals(2, report.get("replaced_count").getAsInt());
        assertNull(report.get("quality"));
        assertTrue(report.get("quality_not_measured").getAsString().contains("FLUX.1"));
        // what it measures instead: the transformers' outputs, on the file's 5 rows with the 2 held-out noise seeds
        JsonObject fidelity = report.getAsJsonObject("output_fidelity");
        assertEquals(10, fidelity.get("items").getAsInt(), fidelity.toString());
        assertTrue(fidelity.get("step_rel_mse").getAsDouble() > 0 && Double.isFinite(fidelity.get("latent_rel_mse").getAsDouble()),
                fidelity.toString());
        assertTrue(Files.readString(out.resolve("report.md")).contains("## Output fidelity"));
        assertEquals(12, report.getAsJsonObject("options").get("calib-tokens").getAsInt()); // the file's 3 x 4 grid
        assertTrue(report.getAsJsonObject("speed").get("work").getAsString().contains("12 img + 6 txt tokens"),
                report.getAsJsonObject("speed").toString());
        try (SafetensorsReader r = SafetensorsReader.open(out.resolve("model.safetensors"))) {
            for (String n : r.names()) assertEquals(DType.BF16, r.info(n).dtype(), n); // kept, merged and new tensors alike
            assertTrue(r.names().stream().noneMatch(n -> n.startsWith("text_encoder.")), r.names().toString());
        }
        assertTrue(Files.size(out.resolve("model.safetensors")) < Files.size(base.resolve("model.safetensors")));
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel pruned = ModelDir.load(out, m, DataType.FLOAT32, java.util.Set.of());
            assertEquals(2, PrunedModels.replacements(pruned).size());
        }
    }

    @Test
    void whatAFluxCheckpointCannotDoIsNamedBeforeAnyWork(@TempDir Path tmp) throws Exception {
        Path base = fluxDir(tmp.resolve("flux"));
        Path calib = calibFile(tmp.resolve("calib.safetensors"), 3);
        try (NDManager m = NDManager.newBaseManager()) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> new PruneJob(base, tmp.resolve("a"), PruneJobTest.options(0.34), PruneJob.Listener.NONE, m).begin());
            assertTrue(e.getMessage().contains("--calib-file"), e.getMessage());
            PruneOptions fd = PruneOptions.defaults(0.34); // fd-align importance by default
            e = assertThrows(IllegalArgumentException.class,
                    () -> new PruneJob(base, tmp.resolve("b"), fd, PruneJob.Listener.NONE, m).calibrationFrom(calib).begin());
            assertTrue(e.getMessage().contains("output-mse"), e.getMessage());
            Path badGrid = tmp.resolve("bad-grid.safetensors");
            new SafetensorsWriter().metadata(PrecomputedCalibrationSource.LATENT_GRID, "64")
                    .add("txt", DType.F32, new long[] {1, 6, 40}, new float[240]).add("y", DType.F32, new long[] {1, 24}, new float[24])
                    .write(badGrid);
            e = assertThrows(IllegalArgumentException.class,
                    () -> new PruneJob(base, tmp.resolve("c"), PruneJobTest.options(0.34), PruneJob.Listener.NONE, m).calibrationFrom(badGrid));
            assertTrue(e.getMessage().contains("latent_grid must be HxW"), e.getMessage());
        }
    }
}
