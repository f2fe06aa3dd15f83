package fastflux.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line's contract: every command listed, bad input named, exit status 2 for usage, 1 for errors. */
class MainTest {
    record Outcome(int status, String out, String err) {}

    static Outcome run(String... argv) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true));
        System.setErr(new PrintStream(e, true));
        try {
            return new Outcome(Main.run(argv), o.toString(), e.toString());
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void helpListsEveryCommand() {
        Outcome r = run("--help");
        assertEquals(0, r.status());
        for (String c : Main.commandLine().getSubcommands().keySet()) assertTrue(r.out().contains(c), c);
        for (String name : new String[] {"forward", "bench", "train-tiny", "generate", "eval", "prune", "experiment"}) {
            assertTrue(r.out().contains(name), name);
        }
    }

    @Test
    void unknownCommandsAndOptionsAreNamed() {
        Outcome r = run("frobnicate");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("unknown command 'frobnicate'"), r.err());
        r = run("forward", "--model", "x", "--inputs", "y", "--out", "z", "--dtyp", "fp16");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--dtyp"), r.err());
        r = run("forward", "--model", "x");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("Missing required options: '--inputs=FILE'"), r.err());
        r = run("forward", "--model", "x", "--inputs", "y", "--out", "z", "--dtype", "bf16");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("bfloat16"), r.err());
    }

    @Test
    void strayArgumentsAndMissingValuesAreNamedBeforeAnyWork() {
        Outcome r = run("prune", "-h");
        assertEquals(0, r.status());
        assertTrue(r.out().contains("Usage: fastflux prune"), r.out());
        r = run("prune", "--ratio", "0.2", "--out", "/tmp/never", "stray");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("Unmatched argument at index 5: 'stray'"), r.err());
        r = run("prune", "--ratio", "0.2", "--out", "/tmp/never", "-Dx");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("Unknown option: '-Dx'"), r.err());
        r = run("prune", "--ratio", "0.2", "--out", "/tmp/never", "--bogus");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("Unknown option: '--bogus'"), r.err());
        r = run("prune", "--ratio", "0.2", "--out", "--no-eval");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("Expected parameter for option '--out' but found '--no-eval'"), r.err());
        r = run("prune", "--ratio", "0.2", "--out", "/tmp/never", "--seed");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("Missing required parameter for option '--seed'"), r.err());
        r = run("eval", "--prompts", "p.tsv", "--out", "r.json", "--guidance", "-1");
        assertNotEquals(0, r.status());
        assertFalse(r.err().contains("Unknown option"), r.err()); // a negative number is a value, judged by the command
    }

    @Test
    void pruneRefusesABadRatioBeforeDoingAnyWork() {
        Outcome r = run("prune", "--ratio", "1.5", "--out", "/tmp/never");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("ratio must be a fraction in (0, 1)"), r.err());
        r = run("prune", "--ratio", "abc", "--out", "/tmp/never");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("Invalid value for option '--ratio': 'abc' is not a number"), r.err());
        r = run("prune", "--ratio", "0.2", "--out", "/tmp/never", "--sandwich", "4");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("sandwich width must be 1, 3 or 5"), r.err());
    }

    @Test
    void missingModelDirectoryIsAClearError(@TempDir Path tmp) throws Exception {
        Path prompts = tmp.resolve("p.tsv");
        Files.writeString(prompts, "single_object\ta circle\n");
        Outcome r = run("eval", "--model", tmp.resolve("nope").toString(), "--prompts", prompts.toString(),
                "--out", tmp.resolve("r.json").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("has no config.json"), r.err());
    }

    @Test
    void evalAgainstAModelReportsFidelityAndABadReferenceFailsBeforeAnyWork(@TempDir Path tmp) throws Exception {
        Path prompts = tmp.resolve("p.tsv");
        Files.writeString(prompts, "single_object\ta circle\ncolors\ta red square\n");
        Path out = tmp.resolve("r.json");
        Path model = fastflux.actors.TinyJobs.baseModel(tmp.resolve("base")).toAbsolutePath();
        Outcome r = run("eval", "--model", model.toString(), "--prompts", prompts.toString(), "--seeds", "1", "--steps", "2",
                "--against", model.toString(), "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        var json = com.google.gson.JsonParser.parseString(Files.readString(out)).getAsJsonObject();
        var f = json.getAsJsonObject("fidelity");
        assertEquals(0.0, f.get("mse").getAsDouble()); // a model against itself: the same pictures
        assertEquals(1.0, f.get("same").getAsDouble());
        assertEquals(2, f.get("images").getAsInt());
        assertTrue(json.has("overall") && json.has("categories"), "the judge's report is kept");

        r = run("eval", "--model", model.toString(), "--prompts", prompts.toString(), "--against", tmp.resolve("nope").toString(),
                "--out", out.toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("has no config.json"), r.err());
    }

    @Test
    void aMissingPromptFileIsOneLine(@TempDir Path tmp) {
        Outcome r = run("eval", "--prompts", tmp.resolve("nope.tsv").toString(), "--out", tmp.resolve("e.json").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("fastflux eval: error: " + tmp.resolve("nope.tsv") + ": no such file or directory"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
    }

    @Test
    void outputsThatCannotBeWrittenAreNamedBeforeAnyWork(@TempDir Path tmp) throws Exception {
        Path blocker = Files.writeString(tmp.resolve("a-file"), "");
        Outcome r = run("generate", "--prompt", "a red circle", "--out", blocker.resolve("g.png").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("--out " + blocker.resolve("g.png") + " cannot be written: its directory cannot be made"), r.err());
        r = run("eval", "--prompts", "x.tsv", "--out", tmp.toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("--out " + tmp + " is a directory, not a file"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
    }

    @Test
    void aPromptOutsideTheGrammarIsNamed(@TempDir Path tmp) {
        Outcome r = run("generate", "--prompt", "a purple hexagon", "--out", tmp.resolve("g.png").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("a purple hexagon"), r.err());
    }

    /** What a diffusers-style export of precomputed conditioning holds, made with the tiny model's own encoder. */
    static Path calibFile(Path base, Path file, int ctx) throws Exception {
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
            fastflux.shapes.ShapesModel model = fastflux.shapes.ShapesModel.load(base, m);
            var c = model.condition(java.util.List.of("a circle", "a red square", "two triangles"), m);
            var u = model.condition(java.util.List.of(""), m);
            new fastflux.model.io.SafetensorsWriter()
                    .add("txt", fastflux.model.io.DType.F32, new long[] {3, 8, ctx}, java.util.Arrays.copyOf(c.txt().toFloatArray(), 3 * 8 * ctx))
                    .add("y", fastflux.model.io.DType.BF16, new long[] {3, 64}, c.y().toFloatArray())
                    .add("neg_txt", fastflux.model.io.DType.F32, new long[] {1, 8, 64}, u.txt().toFloatArray())
                    .add("neg_y", fastflux.model.io.DType.F32, new long[] {1, 64}, u.y().toFloatArray())
                    .write(file);
        }
        return file;
    }

    @Test
    void pruneCalibratesOnAPrecomputedFile(@TempDir Path tmp) throws Exception {
        Path base = fastflux.actors.TinyJobs.baseModel(tmp.resolve("base"));
        Path file = calibFile(base, tmp.resolve("calib.safetensors"), 64);
        Path out = tmp.resolve("out");
        String[] common = {"prune", "--model", base.toString(), "--ratio", "0.34", "--importance", "output-mse", "--calib-steps", "2",
            "--st-steps", "3", "--lora-rank", "4", "--no-eval"};
        Outcome r = run(concat(common, "--out", out.toString(), "--calib-file", file.toString(), "--calib-prompts", "8"));
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--calib-file and --calib-prompts exclude each other"), r.err());
        r = run(concat(common, "--out", tmp.resolve("bad").toString(), "--calib-file", calibFile(base, tmp.resolve("narrow.safetensors"), 32).toString()));
        assertEquals(1, r.status());
        assertTrue(r.err().contains("context_in_dim 64"), r.err());
        // A corrupt file is the job's fault: one clear error naming it, no restarts that would only meet it again.
        Path cut = tmp.resolve("cut.safetensors");
        byte[] whole = Files.readAllBytes(file);
        Files.write(cut, java.util.Arrays.copyOf(whole, whole.length / 2));
        r = run(concat(common, "--out", tmp.resolve("bad").toString(), "--calib-file", cut.toString()));
        assertEquals(1, r.status());
        assertTrue(r.err().contains("cut.safetensors") && r.err().contains("truncated"), r.err());
        assertFalse(r.err().contains("restart limit"), r.err());
        r = run(concat(common, "--out", out.toString(), "--calib-file", file.toString()));
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("replaced 2 of 6 blocks"), r.out());
        String report = Files.readString(out.resolve("report.json"));
        assertTrue(report.contains("calib-file") && report.contains("calib.safetensors"), report);
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));

        // The pruned model against its base in one bench run: both medians, the latency and FLOP ratios.
        r = run("bench", "forward", "--model", out.toString(), "--against", base.toString(), "--runs", "2", "--warmup", "0");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("against_median_ms") && r.out().contains("latency_ratio"), r.out());
        double flopRatio = Double.parseDouble(r.out().lines().filter(l -> l.startsWith("flop_ratio ")).findFirst().orElseThrow().substring(11));
        assertTrue(flopRatio > 0 && flopRatio < 1, "2 of 6 blocks replaced: fewer FLOPs, got " + flopRatio);
        r = run("bench", "forward", "--model-config", "flux-tiny-a", "--random-weights", "--against", base.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--against needs --model"), r.err());

        // Its outputs against the base's, sampled from the same file's rows (what a FLUX.1 checkpoint would use).
        Path fid = tmp.resolve("fidelity.json");
        r = run("fidelity", "--model", out.toString(), "--against", base.toString(), "--calib-file", file.toString(),
                "--prompts", "3", "--steps", "2", "--out", fid.toString());
        assertEquals(0, r.status(), r.err());
        var json = com.google.gson.JsonParser.parseString(Files.readString(fid)).getAsJsonObject();
        assertEquals(6, json.get("items").getAsInt(), json.toString()); // 3 rows x 2 noise seeds
        assertEquals(2, json.getAsJsonArray("step_rel_mse_per_step").size());
        assertTrue(json.get("step_rel_mse").getAsDouble() > 0 && json.get("latent_rel_mse").getAsDouble() > 0, json.toString());
        r = run("fidelity", "--model", out.toString(), "--against", base.toString(), "--calib-file", file.toString(), "--prompts", "4");
        assertEquals(1, r.status());
        assertTrue(r.err().contains("holds 3 rows; --prompts 4 asks for more"), r.err());
    }

    /**
     * A FLUX.1 transformer checkpoint in miniature (bf16, guidance embedding, no text encoder) has no grammar prompts:
     * {@code fidelity} asks for its conditioning, then samples the file's rows at the file's latent grid.
     */
    @Test
    void fidelityOfAFluxCheckpointTakesItsConditioningFromAFile(@TempDir Path tmp) throws Exception {
        Path flux = fluxCheckpoint(tmp.resolve("flux"));
        java.util.Random r = new java.util.Random(3);
        float[] txt = new float[3 * 6 * 40], y = new float[3 * 24];
        for (int i = 0; i < txt.length; i++) txt[i] = (float) r.nextGaussian();
        for (int i = 0; i < y.length; i++) y[i] = (float) r.nextGaussian();
        Path file = tmp.resolve("calib.safetensors");
        new fastflux.model.io.SafetensorsWriter().metadata(fastflux.pruning.PrecomputedCalibrationSource.LATENT_GRID, "3x4")
                .add("txt", fastflux.model.io.DType.BF16, new long[] {3, 6, 40}, txt)
                .add("y", fastflux.model.io.DType.BF16, new long[] {3, 24}, y)
                .write(file);

        Outcome o = run("fidelity", "--model", flux.toString(), "--against", flux.toString(), "--steps", "2");
        assertEquals(1, o.status());
        assertTrue(o.err().contains("FLUX.1 transformer checkpoint") && o.err().contains("--calib-file"), o.err());
        o = run("fidelity", "--model", flux.toString(), "--against", flux.toString(), "--calib-file", file.toString(),
                "--prompts", "3", "--steps", "2");
        assertEquals(0, o.status(), o.err());
        assertTrue(o.out().contains("6 items, 2 steps") && o.out().contains("relative MSE 0.00000"), o.out());
    }

    /** A miniature FLUX.1 transformer checkpoint (bf16, no text encoder): context 40, vec 24. */
    private static Path fluxCheckpoint(Path dir) throws Exception {
        var params = new fastflux.model.FluxParams(16, 16, 24, 40, 32, 2.0, 2, 1, 2, new int[] {4, 6, 6}, 10000, true, true);
        Files.createDirectories(dir);
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
            var model = new fastflux.model.FluxModel(params);
            model.initRandom(m, ai.djl.ndarray.types.DataType.FLOAT32, 5);
            var w = new fastflux.model.io.SafetensorsWriter();
            for (var p : model.params().values()) w.add(p.name(), p.value(), fastflux.model.io.DType.BF16);
            w.write(dir.resolve("model.safetensors"));
        }
        var cfg = new com.google.gson.JsonObject();
        cfg.add("params", fastflux.model.FluxParamsJson.toJson(params));
        Files.writeString(dir.resolve("config.json"), cfg.toString());
        return dir;
    }

    @Test
    void aFluxCheckpointsLimitsAreNamedBeforeAnyWork(@TempDir Path tmp) throws Exception {
        Path flux = fluxCheckpoint(tmp.resolve("flux"));
        Path calib = Files.writeString(tmp.resolve("calib.safetensors"), "never read");
        Outcome r = run("prune", "--model", flux.toString(), "--ratio", "0.3", "--out", tmp.resolve("o").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("is a FLUX.1 transformer checkpoint") && r.err().contains("--calib-file"), r.err());
        assertFalse(r.err().contains("job-0001"), "named before the job starts: " + r.err());
        r = run("prune", "--model", flux.toString(), "--ratio", "0.3", "--out", tmp.resolve("o").toString(),
                "--calib-file", calib.toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("importance fd-align generates and judges images")
                && r.err().contains("--importance output-mse"), r.err());
        assertFalse(r.err().contains("job-0001"), "named before the job starts: " + r.err());
        for (String[] cmd : new String[][] {{"generate", "--prompt", "a red circle", "--out", tmp.resolve("g.png").toString()},
                {"eval", "--prompts", Files.writeString(tmp.resolve("p.tsv"), "colors\ta red circle\n").toString(),
                        "--out", tmp.resolve("e.json").toString()}}) {
            r = run(concat(cmd, "--model", flux.toString()));
            assertEquals(1, r.status(), r.err());
            assertTrue(r.err().contains(flux + " is a FLUX.1 transformer checkpoint (no text_encoder.* tensors)"), r.err());
        }
    }

    @Test
    void fidelityOfAModelAgainstItselfIsZeroAndBadInputIsNamed(@TempDir Path tmp) throws Exception {
        Path model = fastflux.actors.TinyJobs.baseModel(tmp.resolve("base")).toAbsolutePath();
        Outcome r = run("fidelity", "--model", model.toString(), "--against", model.toString(), "--prompts", "2", "--steps", "2");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("relative MSE 0.00000"), r.out());
        assertTrue(r.out().contains("4 items, 2 steps"), r.out()); // 2 grammar prompts x 2 noise seeds
        assertUsageError("--prompts must be at least 1, got 0", "fidelity", "--model", model.toString(), "--against",
                model.toString(), "--prompts", "0");
        r = run("fidelity", "--model", model.toString(), "--against", tmp.resolve("nope").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("nope"), r.err());
    }

    static long lines(String text, String prefix) {
        return text.lines().filter(l -> l.startsWith(prefix)).count();
    }

    /**
     * {@code prune} runs the job on the actors in process: the pruned directory and a full report (quality, speed,
     * time per phase). Started again with the same options it finds every block done and replaces none again.
     */
    @Test
    void pruneRunsOnTheActorsInProcessAndASecondRunRedoesNoBlock(@TempDir Path tmp) throws Exception {
        Path base = fastflux.actors.TinyJobs.baseModel(tmp.resolve("base"));
        Path prompts = tmp.resolve("quality.tsv");
        Files.writeString(prompts, "single_object\ta circle\ncolors\ta red square\n");
        Path out = tmp.resolve("out");
        String[] argv = {"prune", "--model", base.toString(), "--out", out.toString(), "--ratio", "0.34", "--importance", "output-mse",
            "--calib-prompts", "6", "--calib-steps", "2", "--st-steps", "3", "--lora-rank", "4", "--lora-alpha", "4",
            "--eval-prompts", prompts.toString(), "--eval-seeds", "1"};
        Outcome r = run(argv);
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("replaced 2 of 6 blocks"), r.out());
        assertEquals(2, lines(r.err(), "[collect]"), r.err());
        assertEquals(1, lines(r.err(), "[evaluate] base"), "base quality measured before any replacement:\n" + r.err());
        assertTrue(r.err().contains("PruningCoordinator"), "the job ran on the actors:\n" + r.err());
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")) && Files.isRegularFile(out.resolve("config.json")));
        com.google.gson.JsonObject report = com.google.gson.JsonParser.parseString(Files.readString(out.resolve("report.json"))).getAsJsonObject();
        for (String k : new String[] {"options", "block_count", "replaced_count", "order", "blocks", "quality", "speed", "seconds"}) {
            assertTrue(report.has(k), k + " in " + report);
        }
        assertEquals(6, report.get("block_count").getAsInt());
        assertEquals(2, report.getAsJsonArray("blocks").size());
        assertTrue(report.getAsJsonObject("quality").has("base") && report.getAsJsonObject("quality").has("pruned"), report.toString());
        com.google.gson.JsonObject fidelity = report.getAsJsonObject("quality").getAsJsonObject("fidelity");
        assertTrue(fidelity.get("mse").getAsDouble() > 0, "two blocks replaced change the pictures: " + fidelity);
        assertEquals(2, fidelity.get("images").getAsInt()); // 2 quality prompts x 1 seed
        com.google.gson.JsonObject speed = report.getAsJsonObject("speed");
        assertTrue(speed.get("pruned_flops").getAsLong() < speed.get("base_flops").getAsLong(), speed.toString());
        assertTrue(speed.get("base_ms").getAsDouble() > 0 && speed.get("pruned_ms").getAsDouble() > 0, speed.toString());
        for (String phase : new String[] {"evaluate", "collect+solve", "sandwich", "checkpoint", "export", "total"}) {
            assertTrue(report.getAsJsonObject("seconds").has(phase), phase + " in " + report.getAsJsonObject("seconds"));
        }
        assertTrue(Files.readString(out.resolve("report.md")).contains("FastFLUX pruning report"));
        byte[] model = Files.readAllBytes(out.resolve("model.safetensors"));
        long states;
        try (var l = Files.list(out.resolve("state"))) {
            states = l.count();
        }

        Outcome again = run(argv);
        assertEquals(0, again.status(), again.err());
        assertEquals(0, lines(again.err(), "[collect]"), "no block is replaced again:\n" + again.err());
        assertEquals(0, lines(again.err(), "[sandwich]"), again.err());
        assertEquals(0, lines(again.err(), "[evaluate] base"), "the base is measured on a fresh copy, not before replacing:\n" + again.err());
        try (var l = Files.list(out.resolve("state"))) {
            assertEquals(states, l.count(), "no new checkpoint");
        }
        assertArrayEquals(model, Files.readAllBytes(out.resolve("model.safetensors")));
        com.google.gson.JsonObject second = com.google.gson.JsonParser.parseString(Files.readString(out.resolve("report.json"))).getAsJsonObject();
        assertEquals(report.get("blocks"), second.get("blocks"));
        assertEquals(report.get("order"), second.get("order"));
        assertEquals(report.getAsJsonObject("quality").get("base"), second.getAsJsonObject("quality").get("base"),
                "the base measured on a fresh copy equals the one measured in memory");
        assertEquals(fidelity, second.getAsJsonObject("quality").get("fidelity"), "and so do its images");

        // A state of format 2 (snake_case options, no buffer-bytes, no manifest checksum) resumes as the same run.
        try (var l = Files.list(out.resolve("state"))) {
            for (Path f : l.filter(p -> p.toString().endsWith(".json")).toList()) {
                com.google.gson.JsonObject json = com.google.gson.JsonParser.parseString(Files.readString(f)).getAsJsonObject();
                json.remove(fastflux.checkpoints.CheckpointStore.MANIFEST_SHA256);
                json.addProperty("version", 2);
                com.google.gson.JsonObject snake = new com.google.gson.JsonObject();
                json.getAsJsonObject("options").entrySet().forEach(e -> {
                    if (!e.getKey().equals("buffer-bytes")) {
                        snake.add(e.getKey().equals("sandwich") ? "sandwich_width" : e.getKey().replace('-', '_'), e.getValue());
                    }
                });
                json.add("options", snake);
                Files.writeString(f, json.toString());
            }
        }
        Outcome old = run(argv);
        assertEquals(0, old.status(), old.err());
        assertEquals(0, lines(old.err(), "[collect]"), "no block is replaced again:\n" + old.err());
        assertArrayEquals(model, Files.readAllBytes(out.resolve("model.safetensors")));
        String[] other = argv.clone();
        other[java.util.Arrays.asList(argv).indexOf("--st-steps") + 1] = "4";
        Outcome refused = run(other);
        assertEquals(1, refused.status());
        assertTrue(refused.err().contains("holds a run with other options") && refused.err().contains("st-steps 3, now 4"),
                refused.err());
    }

    @Test
    void pruneNamesBadInputsBeforeStartingTheJob(@TempDir Path tmp) throws Exception {
        Path base = fastflux.actors.TinyJobs.baseModel(tmp.resolve("base"));
        Outcome r = run("prune", "--model", tmp.resolve("nope").toString(), "--ratio", "0.2", "--out", tmp.resolve("o").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("model directory " + tmp.resolve("nope") + " does not exist"), r.err());
        r = run("prune", "--model", base.toString(), "--ratio", "0.2", "--out", tmp.resolve("o").toString(), "--order", "middle-out");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("unknown order 'middle-out'"), r.err());
        r = run("prune", "--model", base.toString(), "--ratio", "0.2", "--out", tmp.resolve("o").toString(),
                "--importance-from", tmp.resolve("none.json").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("importance file") && r.err().contains("does not exist"), r.err());
        r = run("prune", "--model", base.toString(), "--ratio", "0.2", "--out", tmp.resolve("o").toString(),
                "--importance-from", base.resolve("config.json").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("config.json: not an importance.json"), r.err());
        assertFalse(r.err().contains("phase"), "named before the job starts: " + r.err());
        Files.writeString(tmp.resolve("broken.json"), "{\"metric\": \"fd-align\",\n  \"blocks\": [ {\"name\" \"x\"} ]}");
        r = run("prune", "--model", base.toString(), "--ratio", "0.2", "--out", tmp.resolve("o").toString(),
                "--importance-from", tmp.resolve("broken.json").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("broken.json: not an importance.json (not valid JSON at line 2 column"), r.err());
        Files.writeString(tmp.resolve("a-file"), "");
        r = run("prune", "--model", base.toString(), "--ratio", "0.2", "--out", tmp.resolve("a-file").resolve("o").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("out directory " + tmp.resolve("a-file").resolve("o") + " cannot be written"), r.err());
        assertFalse(r.err().contains("\tat "), "one line, no stack trace: " + r.err());
        r = run("prune", "--model", base.toString(), "--ratio", "0.2", "--out", base.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--out must differ from --model"), r.err());
        r = run("prune", "--model", base.toString(), "--ratio", "0.2", "--out", tmp.resolve("o").toString(),
                "--reuse-from", tmp.resolve("o").toString());
        assertEquals(1, r.status());
        assertTrue(r.err().contains("does not exist"), r.err());
        r = run("prune", "--model", base.toString(), "--ratio", "0.2", "--out", tmp.resolve("o").toString(), "--reuse-at-ratio");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.err().contains("reuse-at-ratio needs reuse-from"), r.err());
        // Found only when the job starts on the shard: a job error, not a crash loop.
        Files.createDirectories(tmp.resolve("empty-run"));
        r = run("prune", "--model", base.toString(), "--ratio", "0.2", "--out", tmp.resolve("o").toString(),
                "--reuse-from", tmp.resolve("empty-run").toString(), "--no-eval");
        assertEquals(1, r.status());
        assertTrue(r.err().contains("holds no pruning state to reuse"), r.err());
        assertFalse(r.err().contains("restart limit"), r.err());
    }

    @Test
    void experimentNamesBadParts() {
        Outcome r = run("experiment", "paper-tables", "--out", "/tmp/never", "--only", "table4,table9");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("table9"), r.err());
        r = run("experiment", "paper-tablez", "--out", "/tmp/never");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("paper-tables"), r.err());
    }

    @Test
    void experimentTakesTheSandwichOptionsAndNamesABadOne() {
        assertUsageError("LoRA rank must be at least 1, got 0", "experiment", "paper-tables", "--out", "/tmp/never", "--lora-rank", "0");
        assertUsageError("LoRA alpha must be positive, got -1.0", "experiment", "paper-tables", "--out", "/tmp/never", "--lora-alpha", "-1");
        assertUsageError("learning rate must be positive, got 0.0", "experiment", "paper-tables", "--out", "/tmp/never", "--lr", "0");
        assertUsageError("LoRA alpha must be positive", "prune", "--ratio", "0.2", "--out", "/tmp/never", "--lora-alpha", "0");
        assertUsageError("the linears' learning rate must be 0 or more, got -0.001", "prune", "--ratio", "0.2", "--out",
                "/tmp/never", "--linear-lr", "-1e-3");
        assertUsageError("the linears' learning rate must be 0 or more, got NaN", "experiment", "paper-tables", "--out",
                "/tmp/never", "--linear-lr", "NaN");
        assertUsageError("--draws must be at least 1, got 0", "experiment", "paper-tables", "--out", "/tmp/never", "--draws", "0");
        assertUsageError("--first-seed-base must be 0 or more, got -5", "experiment", "paper-tables", "--out", "/tmp/never",
                "--first-seed-base", "-5");
        assertUsageError("--table4-ratio must be a fraction between 0 and 1, got 1.5", "experiment", "paper-tables", "--out",
                "/tmp/never", "--table4-ratio", "1.5");
    }

    @Test
    void trainTinyNamesAConfigTheShapesWorldCannotUse() {
        assertUsageError("--model-config flux-tiny-a: a Shapes model's latents have 48 channels a token, so in_channels and "
                + "out_channels must be 48, got 16 and 16", "train-tiny", "--out", "/tmp/never", "--model-config", "flux-tiny-a");
        assertUsageError("unknown config 'flux-huge'", "train-tiny", "--out", "/tmp/never", "--model-config", "flux-huge");
        assertUsageError("--config NAME is now --model-config NAME", "train-tiny", "--out", "/tmp/never", "--config", "flux-huge");
    }

    /** The command exits 2 (a usage error, before any work) with {@code message} in its error output. */
    private static void assertUsageError(String message, String... args) {
        Outcome r = run(args);
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains(message), r.err());
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
