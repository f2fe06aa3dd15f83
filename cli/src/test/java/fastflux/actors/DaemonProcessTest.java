package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import java.io.OutputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The daemon as its own process on loopback; the test JVM (and helper JVMs) are its clients. */
class DaemonProcessTest {

    static Protocol.JobInfo status(DaemonProcess d, String id) {
        try (DaemonClient c = d.client()) {
            Protocol.StatusReply s = c.ask(r -> new NodeSupervisor.GetStatus(id, r));
            return s.jobs().length == 0 ? null : s.jobs()[0];
        }
    }

    @Test
    void garbageAndUnknownMessagesFromOtherProcessesAreDroppedAndTheDaemonKeepsAnswering(@TempDir Path tmp) throws Exception {
        try (DaemonProcess d = new DaemonProcess(tmp.resolve("state"))) {
            d.start();
            // 1. Raw TCP: not Artery at all.
            Random r = new Random(7);
            for (int i = 0; i < 3; i++) {
                try (Socket s = new Socket("127.0.0.1", d.port); OutputStream out = s.getOutputStream()) {
                    byte[] b = new byte[4096];
                    r.nextBytes(b);
                    if (i == 1) System.arraycopy("AKKA".getBytes(), 0, b, 0, 4);
                    out.write(b);
                    out.flush();
                } catch (java.io.IOException e) {
                    // the daemon may close the connection while we write: that is the point
                }
            }
            // 2. A second JVM speaking Artery with payloads that are not our Kryo and an unregistered class id.
            Process p = new ProcessBuilder(DaemonProcess.java("fastflux.actors.MalformedSender", Integer.toString(d.port)))
                    .redirectErrorStream(true).redirectOutput(tmp.resolve("sender.log").toFile()).start();
            assertTrue(p.waitFor(90, TimeUnit.SECONDS), "sender finished");
            assertEquals(0, p.exitValue(), Files.readString(tmp.resolve("sender.log")));
            assertTrue(d.alive(), "daemon survived");
            try (DaemonClient c = d.client()) {
                Protocol.StatusReply s = c.ask(rr -> new NodeSupervisor.GetStatus("", rr));
                assertEquals(0, s.jobs().length);
            }
            String log = d.logText();
            assertTrue(log.contains("malformed fastflux message"), "the bad payloads were logged:\n" + log);
            // One line for each of the two raw connections that do not start with Artery's header (the third starts
            // with AKKA, the header's magic).
            long dropped = log.lines().filter(l -> l.contains("dropped a connection from 127.0.0.1:")
                    && l.contains(" to the remoting port: its first bytes (") && l.endsWith(") are not Pekko Artery's protocol header")).count();
            assertEquals(2, dropped, "one line per connection without the header:\n" + log);
        }
    }

    /**
     * kill -9 at random moments (and on purpose during a block's sandwich training and right at a checkpoint
     * write), restart each time, then SIGTERM once mid-job: the job finishes with a model bit-identical to an
     * uninterrupted run.
     */
    @Test
    void killMinus9AtRandomMomentsThenRestartGivesTheSameModel() throws Exception {
        // Kept under target/ (not a temp dir) so that a failure can be examined: daemon.log, state, out.
        Path tmp = Path.of("target/kill-test").toAbsolutePath();
        if (Files.exists(tmp)) {
            try (var walk = Files.walk(tmp)) {
                walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
        Files.createDirectories(tmp);
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        byte[] reference = TinyJobs.reference(TinyJobs.spec(base, tmp.resolve("reference")));
        long seed = System.nanoTime();
        Random random = new Random(seed);
        System.err.println("kill moments seed " + seed);
        List<String> kills = new ArrayList<>();
        try (DaemonProcess d = new DaemonProcess(tmp.resolve("state"))) {
            d.start();
            String id;
            try (DaemonClient c = d.client()) {
                Protocol.Reply r = c.ask(rr -> new NodeSupervisor.Submit(TinyJobs.spec(base, tmp.resolve("out")), rr));
                assertTrue(r.ok(), r.message());
                id = r.jobId();
            }
            // Targeted moments: on seeing these phases in the progress stream.
            for (String phase : new String[] {"sandwich", "checkpoint"}) {
                String at = killOnPhase(d, id, phase);
                kills.add(at);
                d.start();
            }
            // Random moments: 0.2 .. 4 s after the daemon is up (start-up, importance, blocks, export).
            for (int i = 0; i < 5; i++) {
                long ms = 200 + random.nextInt(3800);
                Thread.sleep(ms);
                if (!d.alive()) fail("daemon died on its own; see " + d.log);
                d.kill();
                kills.add("random +" + ms + " ms");
                d.start();
            }
            // SIGTERM in the middle of a block's sandwich training: the phase finishes on an intact engine and
            // checkpoints, then the JVM exits cleanly; the restarted daemon continues after that block.
            Protocol.JobInfo before = status(d, id);
            if (before.state() != JobState.DONE) {
                int blocksBefore = waitForPhase(d, id, "sandwich");
                if (blocksBefore >= 0) {
                    int code = d.terminate(Duration.ofSeconds(120));
                    assertEquals(0, code, "clean exit on SIGTERM; see " + d.log);
                    assertTrue(d.logText().contains("stopped between phases: shutdown"), "stopped between phases; see " + d.log);
                    kills.add("SIGTERM in sandwich with " + blocksBefore + " blocks done");
                    assertEquals(blocksBefore + 1, fastflux.pruning.PruneState.read(tmp.resolve("out/state"), TinyJobs.PARAMS)
                            .completed().size(), "the interrupted block was finished and checkpointed");
                    d.start();
                }
            }
            Protocol.Progress end;
            try (DaemonClient c = d.client()) {
                end = c.watch(id, p -> {});
            }
            assertEquals(JobState.DONE, end.state(), end.detail() + "; kills " + kills + "; see " + d.log);
            System.err.println("killed at " + kills);
        }
        Path resumed = tmp.resolve("out/model.safetensors");
        // Bit-identical: backward never reads a freed scalar (docs/stack-notes.md, "DJL scalars and autograd").
        assertArrayEquals(reference, Files.readAllBytes(resumed), "the uninterrupted run vs kills at " + kills + " (seed "
                + seed + "): max relative difference " + TinyJobs.relative(reference, resumed, tmp));
    }

    /** Blocks until the job reports {@code phase}; returns its completed blocks then, or -1 if it ended first. */
    static int waitForPhase(DaemonProcess d, String id, String phase) throws Exception {
        CompletableFuture<Integer> seen = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try (DaemonClient c = d.client()) {
                c.watch(id, p -> {
                    if (p.phase().equals(phase)) seen.complete(p.blocksDone());
                });
                seen.complete(-1);
            } catch (RuntimeException e) {
                seen.complete(-1);
            }
        });
        t.setDaemon(true);
        t.start();
        return seen.get(120, TimeUnit.SECONDS);
    }

    /** Watches until {@code phase} shows up, then kill -9; returns what it saw. */
    static String killOnPhase(DaemonProcess d, String id, String phase) throws Exception {
        CompletableFuture<String> seen = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try (DaemonClient c = d.client()) {
                c.watch(id, p -> {
                    if (p.phase().equals(phase) && !seen.isDone()) {
                        try {
                            d.kill();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        seen.complete(phase + " " + p.block() + " (blocks done " + p.blocksDone() + ")");
                    }
                });
                seen.complete("job ended before " + phase);
            } catch (RuntimeException e) {
                seen.complete(seen.isDone() ? "" : "watch ended: " + e.getMessage());
            }
        });
        t.setDaemon(true);
        t.start();
        String at = seen.get(120, TimeUnit.SECONDS);
        if (d.alive()) d.kill();
        return at;
    }
}
