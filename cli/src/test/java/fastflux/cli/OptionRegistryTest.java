package fastflux.cli;

import static org.junit.jupiter.api.Assertions.*;

import fastflux.actors.JobSpec;
import fastflux.model.FluxParams;
import fastflux.model.Replacement;
import fastflux.pruning.ImportanceScorer;
import fastflux.pruning.JobOptions;
import fastflux.pruning.Option;
import fastflux.pruning.PruneOptions;
import fastflux.pruning.PruneState;
import fastflux.shapes.ShapesModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole option registry, walked: every option set to a value other than its default gives the same job from the
 * command line and from a job file, and the job survives its JSON and the state's. The default job is today's.
 */
class OptionRegistryTest {
    /** A value of {@code o} other than its default and in its range, as text: what a user types. */
    static <T> String otherValue(Option<T> o) {
        T d = o.defaultValue();
        List<String> candidates = new ArrayList<>(o.choices());
        switch (o.kind()) {
            case BOOL -> candidates.add(String.valueOf(!(Boolean) d));
            case INT, LONG -> {
                long x = d == null ? 1 : ((Number) d).longValue();
                for (long c : new long[] {x + 2, x + 1, x - 2, 1}) candidates.add(Long.toString(c));
            }
            case REAL, FLOAT -> {
                double x = d == null ? 0.37 : ((Number) d).doubleValue();
                for (double c : new double[] {x * 2, x / 2, 0.37}) candidates.add(PruneOptions.plain(c));
            }
            case TEXT -> { // a path, relative: each reader resolves it; then a device list, a size
                candidates.add("inputs/" + o.name() + ".x");
                candidates.addAll(List.of("cuda:0,cuda:1", "3G"));
            }
        }
        for (String c : candidates) {
            try {
                if (!o.parse(c).equals(d)) return c;
            } catch (IllegalArgumentException outOfRange) {
                // the next one
            }
        }
        throw new AssertionError("no other value for " + o.name());
    }

    /** Every option but those left out, each at its other value. */
    static Map<Option<?>, String> everyOption(Option<?>... leftOut) {
        Map<Option<?>, String> v = new LinkedHashMap<>();
        for (Option<?> o : JobOptions.ALL) if (!List.of(leftOut).contains(o)) v.put(o, otherValue(o));
        return v;
    }

    static String[] argv(Map<Option<?>, String> values) {
        List<String> a = new ArrayList<>();
        values.forEach((o, text) -> {
            if (o.kind() == Option.Kind.BOOL) a.add(Boolean.parseBoolean(text) ? o.flag() : "--no-" + o.name());
            else a.addAll(List.of(o.flag(), text));
        });
        return a.toArray(String[]::new);
    }

    static String jobFile(Map<Option<?>, String> values) {
        StringBuilder sb = new StringBuilder();
        values.forEach((o, text) -> sb.append(o.name()).append(" = ")
                .append(o.kind() == Option.Kind.TEXT ? "\"" + text + "\"" : text).append('\n'));
        return sb.toString();
    }

    @Test
    void everyOptionOnTheCommandLineAndInAJobFileGivesEqualJobsThatSurviveTheirJsonAndTheState(@TempDir Path tmp)
            throws Exception {
        Path cwd = Path.of("").toAbsolutePath();
        // calib-file excludes calib-prompts: one walk with each
        for (Option<?> leftOut : List.<Option<?>>of(JobOptions.CALIB_FILE, PruneOptions.CALIB_PROMPTS)) {
            Map<Option<?>, String> values = everyOption(leftOut);
            JobSpec fromCli = PruneCommand.job(argv(values));
            Path file = Files.writeString(tmp.resolve("job-" + leftOut.name() + ".conf"), jobFile(values));
            JobSpec fromFile = JobSpec.read(file, cwd);
            assertEquals(fromCli, fromFile, jobFile(values));
            for (Map.Entry<Option<?>, String> e : values.entrySet()) assertGiven(fromCli, e.getKey(), e.getValue(), cwd);
            assertEquals(JobOptions.ALL.size() - 1, values.size(), "every option but " + leftOut + " walked");

            assertEquals(fromCli, JobSpec.fromJson(com.google.gson.JsonParser.parseString(fromCli.toJson().toString()).getAsJsonObject()));

            PruneOptions method = fromCli.options();
            Path state = tmp.resolve("state-" + leftOut.name());
            PruneState.fresh(method.toJson(), 1).write(state, Map.of());
            PruneState back = PruneState.read(state, FluxParams.named("flux-tiny-a"));
            assertEquals(method, PruneOptions.fromJson(back.options()));
            assertEquals(List.of(), PruneOptions.differences(back.options(), method.toJson()));
        }
    }

    private static <T> void assertGiven(JobSpec spec, Option<T> o, String text, Path cwd) {
        T want = o.parse(text);
        if (want instanceof Path p) want = o.cast(cwd.resolve(p).normalize());
        assertEquals(want, spec.get(o), o.name());
        assertNotEquals(o.defaultValue(), spec.get(o), o.name());
    }

    @Test
    void theDefaultJobOfTheCommandLineIsTheMethodsDefaultsFieldByField() {
        JobSpec job = PruneCommand.job("--ratio", "0.2", "--out", "out/pruned");
        Path cwd = Path.of("").toAbsolutePath();
        assertEquals(ShapesModel.defaultDir().toAbsolutePath().normalize().toString(), job.model());
        assertEquals(cwd.resolve("out/pruned").toString(), job.out());
        PruneOptions o = job.options();
        assertEquals(0.2, o.ratio());
        assertEquals(ImportanceScorer.FD_ALIGN, o.importance());
        assertNull(o.importanceFrom());
        assertEquals(PruneOptions.Order.IMPORTANCE, o.order());
        assertEquals(Replacement.Mode.LINEAR, o.mode());
        assertTrue(o.sandwichTraining());
        assertEquals(3, o.sandwichWidth());
        assertEquals(64, o.calibPrompts());
        assertEquals(10, o.calibSteps());
        assertEquals(150, o.stSteps());
        assertEquals(1e-3, o.lr());
        assertEquals(1e-4, o.linearLr());
        assertEquals(2, o.loraRank());
        assertEquals(2f, o.loraAlpha());
        assertEquals(256L << 20, o.bufferBytes());
        assertEquals(0L, o.seed());
        assertEquals(PruneOptions.defaults(0.2), o);
        assertNull(job.calibFile());
        assertNull(job.reuseFrom());
        assertFalse(job.reuseAtRatio());
        assertTrue(job.eval());
        assertNull(job.evalPrompts());
        assertEquals(2, job.evalSeeds());
    }

    @Test
    void theExampleJobFileIsTheCommandLinesDefaults() {
        Path cwd = Path.of("").toAbsolutePath();
        JobSpec example = JobSpec.read(Path.of("..", "config", "example-job.conf"), cwd);
        assertEquals(PruneCommand.job("--model", "models/shapes-tiny", "--out", "runs/shapes-tiny-r20", "--ratio", "0.2"), example);
    }

    @Test
    void aJobFilesOlderOrMistypedKeyIsNamedWithTheKeyMeant(@TempDir Path tmp) throws Exception {
        Path f = Files.writeString(tmp.resolve("job.conf"), "out = o\nratio = 0.2\nlora_rank = 4\nst-step = 3\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JobSpec.read(f, tmp));
        assertTrue(e.getMessage().startsWith(f + ": unknown key(s) 'lora_rank' (the key is lora-rank), 'st-step' (did you mean st-steps?)"),
                e.getMessage());
        Files.writeString(f, "out = o\nratio = 0.2\nsandwich = 4\n");
        e = assertThrows(IllegalArgumentException.class, () -> JobSpec.read(f, tmp));
        assertEquals(f + ": 3: sandwich width must be 1, 3 or 5, got 4", e.getMessage());
        Files.writeString(f, "out = o\nratio = 0.2\norder = middle-out\n");
        e = assertThrows(IllegalArgumentException.class, () -> JobSpec.read(f, tmp));
        assertEquals(f + ": 3: unknown order 'middle-out' (importance, start2end, end2start)", e.getMessage());
        Files.writeString(f, "ratio = 0.2\n");
        e = assertThrows(IllegalArgumentException.class, () -> JobSpec.read(f, tmp));
        assertEquals(f + ": missing required option out", e.getMessage());
        Files.writeString(f, "out = o\nratio = 0.2\ncalib-file = c.safetensors\ncalib-prompts = 8\n");
        e = assertThrows(IllegalArgumentException.class, () -> JobSpec.read(f, tmp));
        assertEquals(f + ": calib-file and calib-prompts exclude each other (the file's rows are the prompts)", e.getMessage());
    }
}
