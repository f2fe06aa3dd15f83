package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import fastflux.model.FluxParams;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import fastflux.shapes.ShapesModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The whole pipeline on a tiny random model: order, least squares, sandwich, export, report, resume. */
class PruneJobTest {
    static final FluxParams PARAMS = TinyShapes.PARAMS.withDepth(2, 4); // 6 blocks

    static PruneOptions options(double ratio) {
        return PruneOptions.defaults(ratio).with(PruneOptions.IMPORTANCE, ImportanceScorer.OUTPUT_MSE)
                .with(PruneOptions.CALIB_PROMPTS, 6).with(PruneOptions.CALIB_STEPS, 2).with(PruneOptions.ST_STEPS, 3)
                .with(PruneOptions.LORA_RANK, 4).with(PruneOptions.LORA_ALPHA, 4f).with(PruneOptions.BUFFER_BYTES, 1L << 20);
    }

    static Path baseModel(Path dir) {
        try (NDManager m = NDManager.newBaseManager()) {
            TinyShapes.model(PARAMS, m, 3).save(dir);
        }
        return dir;
    }

    @Test
    void replacesRoundRatioTimesBlocksAndExportsALoadableModel(@TempDir Path tmp) throws Exception {
        Path base = baseModel(tmp.resolve("base"));
        Path out = tmp.resolve("out");
        JsonObject report;
        try (NDManager m = NDManager.newBaseManager()) {
            report = new PruneJob(base, out, options(0.34), PruneJob.Listener.NONE, m).runAll(null, 1, null);
        }
        assertEquals(2, report.get("replaced_count").getAsInt(), "round(0.34 x 6) = 2");
        assertEquals(6, report.getAsJsonArray("order").size());
        assertTrue(Files.isRegularFile(out.resolve("report.md")));
        assertTrue(Files.isRegularFile(out.resolve("importance.json")));
        JsonObject speed = report.getAsJsonObject("speed");
        assertTrue(speed.get("flop_ratio").getAsDouble() < 1.0);
        for (var b : report.getAsJsonArray("blocks")) { // each sandwich measured on grammar prompts it never saw
            JsonObject t = b.getAsJsonObject().getAsJsonObject("training");
            assertTrue(t.get("held_out_pairs").getAsLong() > 0, t.toString());
            assertTrue(t.get("held_out_initial_loss").getAsDouble() > 0 && t.get("held_out_final_loss").getAsDouble() > 0, t.toString());
        }
        assertTrue(Files.readString(out.resolve("report.md")).contains("held-out prompts first → last"));
        for (var b : report.getAsJsonArray("blocks")) { // each stream's residual per sampler step, and overall
            JsonObject o = b.getAsJsonObject();
            for (var x : o.getAsJsonObject("residuals").entrySet()) {
                var steps = o.getAsJsonObject("residuals_per_step").getAsJsonArray(x.getKey());
                assertEquals(options(0.34).calibSteps(), steps.size(), o.toString());
                double lo = Double.MAX_VALUE, hi = 0;
                for (var v : steps) {
                    lo = Math.min(lo, v.getAsDouble());
                    hi = Math.max(hi, v.getAsDouble());
                }
                double all = x.getValue().getAsDouble(); // a weighted mean of the steps' squares: between them
                assertTrue(lo > 0 && all >= lo - 1e-12 && all <= hi + 1e-12, lo + " <= " + all + " <= " + hi);
                // ... weighted by the branch's energy at each step: the overall residual is that mean, exactly
                var energy = o.getAsJsonObject("branch_energy_per_step").getAsJsonArray(x.getKey());
                double num = 0, den = 0;
                for (int i = 0; i < steps.size(); i++) {
                    double en = energy.get(i).getAsDouble(), r = steps.get(i).getAsDouble();
                    assertTrue(en > 0, energy.toString());
                    num += en * r * r;
                    den += en;
                }
                assertEquals(all, Math.sqrt(num / den), 1e-9 * all, "energy-weighted steps vs overall");
            }
        }
        assertTrue(Files.readString(out.resolve("report.md")).contains("The same residual per sampler step"));
        // the exported transformer against the base on the held-out prompts: 4 (the least) x the 2 held-out noise seeds
        JsonObject fidelity = report.getAsJsonObject("output_fidelity");
        assertEquals(8, fidelity.get("items").getAsInt(), fidelity.toString());
        assertEquals(options(0.34).calibSteps(), fidelity.getAsJsonArray("step_rel_mse_per_step").size());
        assertTrue(fidelity.get("step_rel_mse").getAsDouble() > 0 && fidelity.get("latent_rel_mse").getAsDouble() > 0,
                fidelity.toString());
        assertTrue(Files.readString(out.resolve("report.md")).contains("## Output fidelity"));
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel pruned = ShapesModel.load(out, m);
            List<Replacement> replaced = PrunedModels.replacements(pruned.flux());
            assertEquals(2, replaced.size());
            // The report's first two blocks of the order are the replaced ones.
            for (int i = 0; i < 2; i++) {
                assertEquals(report.getAsJsonArray("order").get(i).getAsString(), report.getAsJsonArray("blocks").get(i)
                        .getAsJsonObject().get("block").getAsString());
            }
        }
        assertTrue(Files.size(out.resolve("model.safetensors")) < Files.size(base.resolve("model.safetensors")));
    }

    @Test
    void aRunStartedAgainResumesFromItsLastPhaseAndGivesTheSameModel(@TempDir Path tmp) throws Exception {
        Path base = baseModel(tmp.resolve("base"));
        Path straight = tmp.resolve("straight");
        try (NDManager m = NDManager.newBaseManager()) {
            new PruneJob(base, straight, options(0.34), PruneJob.Listener.NONE, m).runAll(null, 1, null);
        }
        // Interrupted after its first block, and between the second block's fit and its sandwich training.
        for (boolean fitSecond : new boolean[] {false, true}) {
            Path resumed = tmp.resolve("resumed-" + fitSecond);
            try (NDManager m = NDManager.newBaseManager()) {
                PruneJob job = new PruneJob(base, resumed, options(0.34), PruneJob.Listener.NONE, m);
                job.begin();
                job.order();
                job.replaceOne();
                if (fitSecond) job.fitNext(); // linear fitted and checkpointed, sandwich not trained
            }
            try (NDManager m = NDManager.newBaseManager()) {
                PruneJob job = new PruneJob(base, resumed, options(0.34), PruneJob.Listener.NONE, m);
                PruneState s = job.begin();
                assertEquals(1, s.completed().size(), "resumes after the completed block");
                assertEquals(fitSecond ? s.order().get(1) : null, s.fitted() == null ? null : s.fitted().block(), "the pending block");
                job.runAll(null, 1, null);
            }
            double rel = fastflux.model.io.SafetensorsCompare.maxRelativeDifference(straight.resolve("model.safetensors"),
                    resumed.resolve("model.safetensors"));
            assertEquals(0.0, rel, "resumed (fit of block 2 done: " + fitSecond + ") vs uninterrupted: max relative difference");
            // the first block's training record (held-out losses included) came back from the saved state intact
            for (int i = 0; i < 2; i++) {
                assertEquals(block(straight, i).get("training"), block(resumed, i).get("training"), "block " + i + ", fit done: " + fitSecond);
                assertEquals(block(straight, i).get("residuals_per_step"), block(resumed, i).get("residuals_per_step"));
                assertEquals(block(straight, i).get("branch_energy_per_step"), block(resumed, i).get("branch_energy_per_step"));
            }
        }
    }

    private static JsonObject block(Path out, int i) throws java.io.IOException {
        JsonObject r = com.google.gson.JsonParser.parseString(Files.readString(out.resolve("report.json"))).getAsJsonObject();
        return r.getAsJsonArray("blocks").get(i).getAsJsonObject();
    }

    @Test
    void aCorruptCheckpointFallsBackToThePreviousGoodOne(@TempDir Path tmp) throws Exception {
        Path base = baseModel(tmp.resolve("base"));
        Path out = tmp.resolve("out");
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = new PruneJob(base, out, options(0.34), PruneJob.Listener.NONE, m);
            job.begin();
            job.order();
            job.replaceOne();
            job.replaceOne();
        }
        Path state = out.resolve("state");
        Path newest;
        try (var files = Files.list(state)) {
            newest = files.filter(f -> f.getFileName().toString().startsWith("components-")).sorted().reduce((a, b) -> b).orElseThrow();
        }
        byte[] bytes = Files.readAllBytes(newest);
        bytes[bytes.length - 1] ^= 0x5a;
        Files.write(newest, bytes);
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = new PruneJob(base, out, options(0.34), PruneJob.Listener.NONE, m);
            assertEquals(1, job.begin().completed().size(), "the corrupt newest checkpoint is skipped");
        }
    }

    @Test
    void aLowerRatioIsBuiltFromAHigherRatioRunWithoutTraining(@TempDir Path tmp) throws Exception {
        Path base = baseModel(tmp.resolve("base"));
        Path high = tmp.resolve("high");
        try (NDManager m = NDManager.newBaseManager()) {
            new PruneJob(base, high, options(0.34), PruneJob.Listener.NONE, m).runAll(null, 1, null);
        }
        Path low = tmp.resolve("low");
        JsonObject report;
        try (NDManager m = NDManager.newBaseManager()) {
            report = new PruneJob(base, low, options(0.17), PruneJob.Listener.NONE, m).reuseFrom(high).runAll(null, 1, null);
        }
        assertEquals(1, report.get("replaced_count").getAsInt());
        JsonObject highReport = com.google.gson.JsonParser.parseString(Files.readString(high.resolve("report.json"))).getAsJsonObject();
        assertEquals(highReport.getAsJsonArray("order").get(0), report.getAsJsonArray("blocks").get(0).getAsJsonObject().get("block"),
                "the first block of the higher run's order");
        try (NDManager m = NDManager.newBaseManager()) {
            assertEquals(1, PrunedModels.replacements(ShapesModel.load(low, m).flux()).size());
        }
    }

    @Test
    void aLowerRatioBuiltAtItsStageEqualsTrainingItDirectly(@TempDir Path tmp) throws Exception {
        Path base = baseModel(tmp.resolve("base"));
        Path high = tmp.resolve("high");
        Path direct = tmp.resolve("direct");
        Path staged = tmp.resolve("staged");
        try (NDManager m = NDManager.newBaseManager()) {
            new PruneJob(base, high, options(0.34), PruneJob.Listener.NONE, m).runAll(null, 1, null);
        }
        assertTrue(Files.isRegularFile(high.resolve("state/stage-0001.json")) && Files.isRegularFile(high.resolve("state/stage-0002.json")),
                "a stage per block done");
        try (NDManager m = NDManager.newBaseManager()) {
            new PruneJob(base, direct, options(0.17), PruneJob.Listener.NONE, m).runAll(null, 1, null);
        }
        try (NDManager m = NDManager.newBaseManager()) {
            new PruneJob(base, staged, options(0.17), PruneJob.Listener.NONE, m).reuseFrom(high, true).runAll(null, 1, null);
        }
        // the method is progressive: the 34 % run passed through the 17 % model, adapters and all
        assertArrayEquals(Files.readAllBytes(direct.resolve("model.safetensors")), Files.readAllBytes(staged.resolve("model.safetensors")));

        // a run without that stage (made before stages were kept) says so
        Files.delete(high.resolve("state/stage-0001.json"));
        try (NDManager m = NDManager.newBaseManager()) {
            var e = assertThrows(IllegalArgumentException.class, () -> new PruneJob(base, tmp.resolve("again"), options(0.17),
                    PruneJob.Listener.NONE, m).reuseFrom(high, true).runAll(null, 1, null));
            assertTrue(e.getMessage().contains("kept no stage after 1 blocks"), e.getMessage());
        }
    }

    @Test
    void optionsAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> options(0));
        assertThrows(IllegalArgumentException.class, () -> options(1));
        assertEquals(1, PruneJob.blocksFor(0.01, PARAMS), "at least one block");
    }

    @Test
    void ratesArePrintedAsPeopleWriteThem() {
        assertEquals("0.0001", PruneOptions.plain(1e-4));
        assertEquals("0.001", PruneOptions.plain(1e-3));
        assertEquals("2", PruneOptions.plain(2.0));
        assertEquals("0", PruneOptions.plain(0));
        assertEquals("0.3", PruneOptions.plain(0.3f), "a float by its own digits, not its double's");
    }
}
