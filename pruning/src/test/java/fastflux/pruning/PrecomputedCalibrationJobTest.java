package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import fastflux.model.PrunedModels;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsWriter;
import fastflux.shapes.Prompt;
import fastflux.shapes.PromptSets;
import fastflux.shapes.ShapesModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A job calibrated on a file of precomputed conditioning ({@code --calib-file}), as a pipeline exporting a real
 * checkpoint's T5/CLIP outputs would write it; here the tiny model's own text encoder plays that pipeline.
 */
class PrecomputedCalibrationJobTest {
    /** txt [n, 8, 64] F32, y [n, 64] F16, and the empty prompt's neg_txt/neg_y unless {@code withNeg} is false. */
    static Path export(Path base, Path file, int n, boolean withNeg, int ctx) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = ShapesModel.load(base, m);
            List<String> texts = new ArrayList<>();
            for (Prompt p : PromptSets.sample(n, 5)) texts.add(p.text());
            fastflux.world.World.Conditioning c = model.condition(texts, m);
            float[] txt = c.txt().toFloatArray();
            if (ctx != 64) txt = java.util.Arrays.copyOf(txt, n * 8 * ctx);
            SafetensorsWriter w = new SafetensorsWriter()
                    .add("txt", DType.F32, new long[] {n, 8, ctx}, txt)
                    .add("y", DType.F16, new long[] {n, 64}, c.y().toFloatArray());
            if (withNeg) {
                fastflux.world.World.Conditioning u = model.condition(List.of(""), m);
                w.add("neg_txt", DType.F32, new long[] {1, 8, 64}, u.txt().toFloatArray())
                        .add("neg_y", DType.F32, new long[] {1, 64}, u.y().toFloatArray());
            }
            w.write(file);
        }
        return file;
    }

    @Test
    void aJobCalibratesOnAPrecomputedFileAndTheFileIsPartOfItsOptions(@TempDir Path tmp) throws Exception {
        Path base = PruneJobTest.baseModel(tmp.resolve("base"));
        Path file = export(base, tmp.resolve("calib.safetensors"), 5, true, 64);
        Path out = tmp.resolve("out");
        JsonObject report;
        try (NDManager m = NDManager.newBaseManager()) {
            report = new PruneJob(base, out, PruneJobTest.options(0.34), PruneJob.Listener.NONE, m).calibrationFrom(file)
                    .runAll(null, 1, null);
        }
        assertEquals(2, report.get("replaced_count").getAsInt());
        assertEquals(file.toAbsolutePath().normalize().toString(), report.getAsJsonObject("options").get("calib-file").getAsString());
        for (var b : report.getAsJsonArray("blocks")) { // the sandwiches trained on the file's trajectories
            JsonObject t = b.getAsJsonObject().getAsJsonObject("training");
            assertTrue(Double.isFinite(t.get("initial_loss").getAsDouble()) && Double.isFinite(t.get("final_loss").getAsDouble()), t.toString());
            assertFalse(t.has("held_out_pairs"), "a calibration file has no held-out prompts: " + t);
            // 5 rows x 2 seeds are two batches: the second is held out for the least-squares residual.
            for (var r : b.getAsJsonObject().getAsJsonObject("residuals").entrySet()) {
                assertTrue(r.getValue().getAsDouble() > 0 && r.getValue().getAsDouble() < 1.5, r.toString());
            }
        }
        String json = java.nio.file.Files.readString(out.resolve("report.json"));
        assertFalse(json.contains("NaN") || json.contains("Infinity"), "report.json must be standard JSON: " + json);
        try (NDManager m = NDManager.newBaseManager()) {
            assertEquals(2, PrunedModels.replacements(ShapesModel.load(out, m).flux()).size());
            // Started again without the file, the run is not taken for the same one.
            var e = assertThrows(IllegalArgumentException.class,
                    () -> new PruneJob(base, out, PruneJobTest.options(0.34), PruneJob.Listener.NONE, m).begin());
            assertTrue(e.getMessage().contains("other options"), e.getMessage());
        }
    }

    @Test
    void whatIsWrongWithAFileIsNamedBeforeAnyWork(@TempDir Path tmp) throws Exception {
        Path base = PruneJobTest.baseModel(tmp.resolve("base"));
        Path noY = tmp.resolve("no-y.safetensors");
        new SafetensorsWriter().add("txt", DType.F32, new long[] {2, 8, 64}, new float[2 * 8 * 64]).write(noY);
        Path narrow = export(base, tmp.resolve("narrow.safetensors"), 2, true, 32);
        Path noNeg = export(base, tmp.resolve("no-neg.safetensors"), 2, false, 64);
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = new PruneJob(base, tmp.resolve("out"), PruneJobTest.options(0.34), PruneJob.Listener.NONE, m);
            var e = assertThrows(IllegalArgumentException.class, () -> job.calibrationFrom(noY));
            assertTrue(e.getMessage().contains("no tensor 'y'") && e.getMessage().contains("[txt]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> job.calibrationFrom(narrow));
            assertTrue(e.getMessage().contains("context_in_dim 64"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> job.calibrationFrom(noNeg));
            assertTrue(e.getMessage().contains("neg_txt [1, L, 64]"), e.getMessage());
        }
    }

    @Test
    void diffusersNamesReadAsTxtAndY(@TempDir Path tmp) throws Exception {
        Path base = PruneJobTest.baseModel(tmp.resolve("base"));
        Path own = export(base, tmp.resolve("own.safetensors"), 2, true, 64);
        Path renamed = tmp.resolve("diffusers.safetensors");
        Path both = tmp.resolve("both.safetensors");
        SafetensorsWriter w = new SafetensorsWriter();
        SafetensorsWriter w2 = new SafetensorsWriter();
        try (fastflux.model.io.SafetensorsReader r = fastflux.model.io.SafetensorsReader.open(own)) {
            for (String n : r.names()) {
                var info = r.info(n);
                w.add(PrecomputedCalibrationSource.DIFFUSERS_NAMES.get(n), info.dtype(), info.shape(), r.readFloats(n));
                w2.add(n, info.dtype(), info.shape(), r.readFloats(n));
            }
            w2.add("prompt_embeds", r.info("txt").dtype(), r.info("txt").shape(), r.readFloats("txt"));
        }
        w.write(renamed);
        w2.write(both);
        fastflux.model.FluxParams p = fastflux.model.ModelDir.readParams(base);
        try (NDManager m = NDManager.newBaseManager();
             PrecomputedCalibrationSource a = PrecomputedCalibrationSource.open(own, p, 4, 4, false);
             PrecomputedCalibrationSource b = PrecomputedCalibrationSource.open(renamed, p, 4, 4, false)) {
            assertTrue(b.hasUnconditional());
            var ca = a.condition(new int[] {1, 0}, m);
            var cb = b.condition(new int[] {1, 0}, m);
            assertArrayEquals(ca.txt().toFloatArray(), cb.txt().toFloatArray());
            assertArrayEquals(ca.y().toFloatArray(), cb.y().toFloatArray());
            var e = assertThrows(IllegalArgumentException.class, () -> PrecomputedCalibrationSource.open(both, p, 4, 4, false));
            assertTrue(e.getMessage().contains("'txt' and 'prompt_embeds'"), e.getMessage());
        }
    }
}
