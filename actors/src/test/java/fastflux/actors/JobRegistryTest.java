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
        JobSpec spec = new JobSpec("/m", "/o", 0.2, "fd-align", "importance", "linear", true, 3, 64, 10, 150, 1e-3, 2, 2, 0);
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
    void aJobQueuedBeforeTheLinearsHadTheirOwnRateKeepsTrainingThemAtTheAdaptersRate(@TempDir Path tmp) throws Exception {
        JobRegistry r = new JobRegistry(tmp);
        JobSpec spec = new JobSpec("/m", "/o", 0.2, "fd-align", "importance", "linear", true, 3, 64, 10, 150, 3e-3, 2, 2, 0);
        r.save(List.of(new JobRegistry.Job("job-0001", spec, "queued", null)));
        Path file = tmp.resolve("jobs.json");
        String now = Files.readString(file);
        String before = now.replaceAll(",\\s*\"linearLr\":\\s*[0-9.eE-]+", "");
        assertTrue(now.contains("\"linearLr\"") && !before.contains("linearLr"), before);
        Files.writeString(file, before);
        assertEquals(3e-3, r.load().get(0).spec.options().linearLr());
    }
}
