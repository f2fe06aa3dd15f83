package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A watcher stopped (SIGSTOP) for longer than the failure detector allows, then continued, watches on. */
class WatcherStopProcessTest {
    @Test
    void aWatcherStoppedAndContinuedKeepsWatchingAndSeesTheJobsEnd(@TempDir Path tmp) throws Exception {
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        try (DaemonProcess d = new DaemonProcess(tmp.resolve("state"))) {
            d.start();
            String id;
            try (DaemonClient c = d.client()) {
                Protocol.Reply r = c.ask(rr -> new NodeSupervisor.Submit(TinyJobs.spec(base, tmp.resolve("out")), rr));
                assertTrue(r.ok(), r.message());
                id = r.jobId();
                assertTrue(c.<Protocol.Reply>ask(rr -> new NodeSupervisor.Pause(id, rr)).ok());
            }
            Path log = tmp.resolve("watch.log");
            Process watch = new ProcessBuilder(DaemonProcess.java("fastflux.cli.Main", "watch", id, "--port", Integer.toString(d.port)))
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            for (int i = 0; i < 300 && !Files.readString(log).contains("[paused]"); i++) Thread.sleep(100);
            assertTrue(Files.readString(log).contains("[paused]"), "the watcher saw the paused job:\n" + Files.readString(log));

            signal("STOP", watch.pid());
            Thread.sleep(25_000); // well past the remote failure detector's 10 s: both sides take the other for dead
            signal("CONT", watch.pid());
            Thread.sleep(10_000);
            assertTrue(watch.isAlive(), "the watcher is still watching:\n" + Files.readString(log));
            try (DaemonClient c = d.client()) {
                assertTrue(c.<Protocol.Reply>ask(rr -> new NodeSupervisor.Cancel(id, rr)).ok());
            }
            assertTrue(watch.waitFor(60, TimeUnit.SECONDS), "the watcher ended with the job:\n" + Files.readString(log));
            String out = Files.readString(log);
            assertFalse(out.contains("lost the daemon"), out);
            assertTrue(out.contains(id + " cancelled"), out);
            assertEquals(1, watch.exitValue(), out);
        }
    }

    private static void signal(String name, long pid) throws Exception {
        Process p = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).inheritIO().start();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0, "kill -" + name);
    }
}
