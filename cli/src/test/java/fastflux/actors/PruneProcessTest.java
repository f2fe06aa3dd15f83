package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code fastflux prune} as its own process: SIGTERM mid-job stops after the running phase, and a rerun resumes. */
class PruneProcessTest {

    static List<String> prune(Path base, Path out) {
        return DaemonProcess.java("fastflux.cli.Main", "prune", "--model", base.toString(), "--out", out.toString(), "--ratio", "0.34",
                "--importance", "output-mse", "--calib-prompts", "6", "--calib-steps", "2", "--st-steps", "3", "--lora-rank", "4",
                "--lora-alpha", "4", "--no-eval");
    }

    static long lines(String text, String prefix) {
        return text.lines().filter(l -> l.startsWith(prefix)).count();
    }

    @Test
    void sigtermCheckpointsTheRunningPhaseAndTheSameCommandResumes(@TempDir Path tmp) throws Exception {
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        Path out = tmp.resolve("out");
        Path log1 = tmp.resolve("first.log");
        Process p = new ProcessBuilder(prune(base, out)).redirectErrorStream(true).redirectOutput(log1.toFile()).start();
        // Wait for the first block's checkpoint, then SIGTERM: the job is in its second block (or later).
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(4);
        while (lines(Files.readString(log1), "[checkpoint]") == 0) {
            assertTrue(p.isAlive(), "prune ended before its first checkpoint:\n" + Files.readString(log1));
            assertTrue(System.nanoTime() < deadline, "no checkpoint within 4 minutes:\n" + Files.readString(log1));
            Thread.sleep(100);
        }
        p.destroy(); // SIGTERM
        assertTrue(p.waitFor(4, TimeUnit.MINUTES), "prune stopped after SIGTERM");
        String first = Files.readString(log1);
        // 143: stopped after the running phase; 0: the signal came after the job's last phase.
        assertTrue(p.exitValue() == 143 || p.exitValue() == 0, "exit " + p.exitValue() + "\n" + first);
        if (p.exitValue() == 143) {
            assertTrue(first.contains("run the same command again to resume"), first);
            assertFalse(Files.exists(out.resolve("report.json")), first);
        }

        Path log2 = tmp.resolve("second.log");
        Process q = new ProcessBuilder(prune(base, out)).redirectErrorStream(true).redirectOutput(log2.toFile()).start();
        assertTrue(q.waitFor(4, TimeUnit.MINUTES), "the rerun finished");
        String second = Files.readString(log2);
        assertEquals(0, q.exitValue(), second);
        assertTrue(second.contains("replaced 2 of 6 blocks"), second);
        // Each block replaced exactly once over both runs: the rerun continued from the checkpoint.
        assertEquals(2, lines(first, "[collect]") + lines(second, "[collect]"), "first run:\n" + first + "\nsecond run:\n" + second);
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));
        assertTrue(Files.readString(out.resolve("report.json")).contains("\"speed\""));
    }
}
