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
        r.save(List.of(new JobRegistry.Job("job-0001", spec, "running", null), new JobRegistry.Job("job-0002", spec, "failed", "x")));
        List<JobRegistry.Job> back = r.load();
        assertEquals(2, back.size());
        assertEquals(spec, back.get(0).spec);
        assertEquals("failed", back.get(1).state);
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

    @Test
    void aJobSavedInCamelCaseReadsAsTheSameJobAndWithoutItsOwnLinearRateTrainsThemAtTheAdaptersRate(@TempDir Path tmp)
            throws Exception {
        JobRegistry r = new JobRegistry(tmp);
        JobSpec spec = JobSpec.of(Path.of("/m"), Path.of("/o"), 0.2).with(fastflux.pruning.PruneOptions.LR, 3e-3);
        r.save(List.of(new JobRegistry.Job("job-0001", spec, "queued", null)));
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
