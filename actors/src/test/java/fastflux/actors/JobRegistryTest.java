package fastflux.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobRegistryTest {
    @Test
    void jobsRoundTripAndADamagedRegistryIsNamedAndLeftAlone(@TempDir Path tmp) throws Exception {
        JobRegistry r = new JobRegistry(tmp);
        assertEquals(List.of(), r.load(), "no file yet: no jobs");
        JobSpec spec = JobSpec.of(Path.of("/m"), Path.of("/o"), 0.2);
        r.save(List.of(new JobRegistry.Job("job-0001", spec, JobState.RUNNING, null), new JobRegistry.Job("job-0002", spec, JobState.FAILED, "x")));
        List<JobRegistry.Job> back = r.load();
        assertEquals(2, back.size());
        assertEquals(spec, back.get(0).spec);
        assertEquals(JobState.FAILED, back.get(1).state());
        assertEquals("x", back.get(1).error);

        Path file = tmp.resolve("jobs.json");
        String whole = Files.readString(file);
        for (String damaged : List.of(whole.substring(0, whole.length() / 2), "[]", "{\"version\": 1}",
                whole.replace("\"version\": 1", "\"version\": 7"), whole.replace("\"job-0002\"", "\"job-two\""),
                whole.replaceFirst("\"spec\"", "\"speck\""))) {
            Files.writeString(file, damaged);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::load, damaged);
            assertTrue(e.getMessage().startsWith("job registry " + file + " is damaged") && !e.getMessage().contains("\n"),
                    e.getMessage());
            assertEquals(damaged, Files.readString(file), "left as it was");
        }
    }

    /** A registry as the daemon writes it, one job per state word; the spec's fields are JobSpec's. */
    static String registryText(JobSpec spec, String... states) {
        StringBuilder jobs = new StringBuilder();
        for (int i = 0; i < states.length; i++) {
            if (i > 0) jobs.append(",\n");
            jobs.append("    {\n      \"id\": \"job-000").append(i + 1).append("\",\n      \"state\": \"").append(states[i])
                    .append("\",\n      \"error\": ").append(states[i].equals("failed") ? "\"out of memory\"" : "null")
                    .append(",\n      \"spec\": ").append(spec.toJson()).append("\n    }");
        }
        return "{\n  \"version\": 1,\n  \"jobs\": [\n" + jobs + "\n  ]\n}";
    }

    @Test
    void everyStateLoadsFromItsWordAndIsWrittenBackAsTheSameWord(@TempDir Path tmp) throws Exception {
        JobSpec spec = JobSpec.of(Path.of("/m"), Path.of("/o"), 0.2);
        String[] words = {"queued", "running", "paused", "done", "failed", "cancelled"};
        Path file = tmp.resolve("jobs.json");
        Files.writeString(file, registryText(spec, words));
        JobRegistry r = new JobRegistry(tmp);
        List<JobRegistry.Job> jobs = r.load();
        assertEquals(List.of(JobState.QUEUED, JobState.RUNNING, JobState.PAUSED, JobState.DONE, JobState.FAILED,
                JobState.CANCELLED), jobs.stream().map(JobRegistry.Job::state).toList());
        assertEquals("out of memory", jobs.get(4).error);
        r.save(jobs);
        com.google.gson.JsonArray saved = com.google.gson.JsonParser.parseString(Files.readString(file)).getAsJsonObject()
                .getAsJsonArray("jobs");
        for (int i = 0; i < words.length; i++) assertEquals(words[i], saved.get(i).getAsJsonObject().get("state").getAsString());
    }

    @Test
    void anUnknownStateWordIsAnErrorNamingTheFileAndTheWord(@TempDir Path tmp) throws Exception {
        JobSpec spec = JobSpec.of(Path.of("/m"), Path.of("/o"), 0.2);
        Path file = tmp.resolve("jobs.json");
        String text = registryText(spec, "queued", "Running");
        Files.writeString(file, text);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, new JobRegistry(tmp)::load);
        assertTrue(e.getMessage().startsWith("job registry " + file + " is damaged"), e.getMessage());
        assertTrue(e.getMessage().contains("job-0002") && e.getMessage().contains("unknown job state 'Running'"), e.getMessage());
        assertEquals(text, Files.readString(file), "left as it was");
    }

    @Test
    void aJobSavedInCamelCaseReadsAsTheSameJobAndWithoutItsOwnLinearRateTrainsThemAtTheAdaptersRate(@TempDir Path tmp)
            throws Exception {
        JobRegistry r = new JobRegistry(tmp);
        JobSpec spec = JobSpec.of(Path.of("/m"), Path.of("/o"), 0.2).with(fastflux.pruning.PruneOptions.LR, 3e-3);
        r.save(List.of(new JobRegistry.Job("job-0001", spec, JobState.QUEUED, null)));
        Path file = tmp.resolve("jobs.json");
        String now = Files.readString(file);
        assertTrue(now.contains("\"linear-lr\"") && now.contains("\"lora-rank\""), now);
        // the registry as daemons wrote it before the one spelling: the record's camelCase field names
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"([a-z]+)-([a-z])([a-z-]*)\":").matcher(now);
        StringBuilder camel = new StringBuilder();
        while (m.find()) {
            String rest = m.group(3);
            while (rest.contains("-")) {
                int i = rest.indexOf('-');
                rest = rest.substring(0, i) + Character.toUpperCase(rest.charAt(i + 1)) + rest.substring(i + 2);
            }
            m.appendReplacement(camel, "\"" + m.group(1) + m.group(2).toUpperCase() + rest + "\":");
        }
        m.appendTail(camel);
        assertTrue(camel.toString().contains("\"linearLr\"") && camel.toString().contains("\"reuseAtRatio\""), camel.toString());
        Files.writeString(file, camel.toString());
        assertEquals(spec, r.load().get(0).spec);
        String before = camel.toString().replaceAll(",\\s*\"linearLr\":\\s*[0-9.eE-]+", "");
        assertTrue(!before.contains("linearLr"), before);
        Files.writeString(file, before);
        assertEquals(3e-3, r.load().get(0).spec.options().linearLr());
    }
}
