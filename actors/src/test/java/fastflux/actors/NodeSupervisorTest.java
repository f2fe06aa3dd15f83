package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import fastflux.pruning.JobOptions;
import fastflux.pruning.PruneOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The node, its coordinator and the shard on a tiny model, in one JVM (no remoting). */
class NodeSupervisorTest {
    static ActorTestKit kit;
    static final Duration LONG = Duration.ofMinutes(3);

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("node-test", com.typesafe.config.ConfigFactory.parseString("pekko.actor.provider = local")
                .withFallback(com.typesafe.config.ConfigFactory.load()));
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    static NodeSupervisor.Settings settings(Path stateDir, DeviceShard.FailureInjector failures) {
        return new NodeSupervisor.Settings(stateDir, 4, 3, Duration.ofMinutes(1), "fastflux.daemon.shard-dispatcher", failures);
    }

    static Protocol.Progress awaitTerminal(ActorRef<NodeSupervisor.Command> node, String jobId) {
        TestProbe<Protocol.WatchEvent> watcher = kit.createTestProbe();
        TestProbe<Protocol.Reply> replies = kit.createTestProbe();
        node.tell(new NodeSupervisor.Watch(jobId, watcher.getRef(), replies.getRef()));
        assertTrue(replies.receiveMessage().ok());
        while (true) {
            Protocol.WatchEvent e = watcher.receiveMessage(LONG);
            e.ackTo().tell(new WatcherRelay.Ack());
            if (e.progress().terminal() || e.progress().state().equals("paused")) return e.progress();
        }
    }

    static String submit(ActorRef<NodeSupervisor.Command> node, JobSpec spec) {
        TestProbe<Protocol.Reply> replies = kit.createTestProbe();
        node.tell(new NodeSupervisor.Submit(spec, replies.getRef()));
        Protocol.Reply r = replies.receiveMessage();
        assertTrue(r.ok(), r.message());
        return r.jobId();
    }

    @Test
    void aShardThatFailsMidJobIsRestartedFromTheCheckpointAndTheModelIsTheSame(@TempDir Path tmp) throws Exception {
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        byte[] reference = TinyJobs.reference(TinyJobs.spec(base, tmp.resolve("reference")));
        // Crash twice: in the middle of the second block's sandwich training, then while exporting.
        AtomicInteger crashes = new AtomicInteger();
        DeviceShard.FailureInjector failures = (phase, completed) -> {
            if ((phase.equals("sandwich") && completed == 1 && crashes.get() == 0)
                    || (phase.equals("export") && crashes.get() == 1)) {
                crashes.incrementAndGet();
                throw new IllegalStateException("injected device failure in " + phase);
            }
        };
        ActorRef<NodeSupervisor.Command> node = kit.spawn(NodeSupervisor.create(settings(tmp.resolve("node"), failures)));
        String id = submit(node, TinyJobs.spec(base, tmp.resolve("out")));
        // A second watcher that never acknowledges anything: it gets its window (4) and the job does not care.
        TestProbe<Protocol.WatchEvent> stalled = kit.createTestProbe();
        TestProbe<Protocol.Reply> replies = kit.createTestProbe();
        node.tell(new NodeSupervisor.Watch(id, stalled.getRef(), replies.getRef()));
        assertTrue(replies.receiveMessage().ok());
        Protocol.Progress last = awaitTerminal(node, id);
        assertEquals(4, stalled.receiveSeveralMessages(4).size());
        stalled.expectNoMessage(Duration.ofMillis(300));
        assertEquals("done", last.state(), last.detail());
        assertEquals(2, crashes.get());
        Path out = tmp.resolve("out/model.safetensors");
        assertArrayEquals(reference, Files.readAllBytes(out), "the restarted job's model equals the uninterrupted one bit for"
                + " bit; max relative difference " + TinyJobs.relative(reference, out, tmp));
        kit.stop(node);
    }

    @Test
    void badJobsAreRefusedWithAClearErrorAndTheNodeKeepsServing(@TempDir Path tmp) {
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        ActorRef<NodeSupervisor.Command> node = kit.spawn(NodeSupervisor.create(settings(tmp.resolve("node"), DeviceShard.FailureInjector.NONE)));
        TestProbe<Protocol.Reply> replies = kit.createTestProbe();
        JobSpec good = TinyJobs.spec(base, tmp.resolve("out"));
        JobSpec[] bad = {
                good.with(JobOptions.MODEL, tmp.resolve("missing")),
                good.with(JobOptions.OUT, Path.of(good.model())),
        };
        String[] expected = {"does not exist", "out must differ"};
        // a value out of range never makes a job at all
        assertTrue(assertThrows(IllegalArgumentException.class, () -> good.with(PruneOptions.RATIO, 1.5)).getMessage()
                .contains("ratio must be a fraction"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> good.with(PruneOptions.IMPORTANCE, "nonsense")).getMessage()
                .contains("unknown importance"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> good.with(PruneOptions.SANDWICH, 4)).getMessage()
                .contains("sandwich width"));
        for (int i = 0; i < bad.length; i++) {
            node.tell(new NodeSupervisor.Submit(bad[i], replies.getRef()));
            Protocol.Reply r = replies.receiveMessage();
            assertFalse(r.ok());
            assertTrue(r.message().contains(expected[i]), r.message());
        }
        TestProbe<Protocol.StatusReply> status = kit.createTestProbe();
        node.tell(new NodeSupervisor.GetStatus("", status.getRef()));
        assertEquals(0, status.receiveMessage().jobs().length, "nothing was queued");
        node.tell(new NodeSupervisor.Pause("job-0042", replies.getRef()));
        assertFalse(replies.receiveMessage().ok());
        kit.stop(node);
    }

    @Test
    void pauseStopsBetweenPhasesResumeFinishesAndQueuedJobsRunInOrder(@TempDir Path tmp) throws Exception {
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        byte[] reference = TinyJobs.reference(TinyJobs.spec(base, tmp.resolve("reference")));
        ActorRef<NodeSupervisor.Command> node = kit.spawn(NodeSupervisor.create(settings(tmp.resolve("node"), DeviceShard.FailureInjector.NONE)));
        String first = submit(node, TinyJobs.spec(base, tmp.resolve("a")));
        String second = submit(node, TinyJobs.spec(base, tmp.resolve("b")));
        TestProbe<Protocol.Reply> replies = kit.createTestProbe();
        node.tell(new NodeSupervisor.Pause(first, replies.getRef()));
        assertTrue(replies.receiveMessage().ok());
        node.tell(new NodeSupervisor.Cancel(second, replies.getRef()));
        assertTrue(replies.receiveMessage().ok(), "a queued job is cancelled at once");
        assertEquals("paused", awaitTerminal(node, first).state());
        assertFalse(Files.exists(tmp.resolve("a/model.safetensors")), "paused before export");
        node.tell(new NodeSupervisor.Resume(first, replies.getRef()));
        assertTrue(replies.receiveMessage().ok());
        assertEquals("done", awaitTerminal(node, first).state());
        Path out = tmp.resolve("a/model.safetensors");
        assertArrayEquals(reference, Files.readAllBytes(out), "paused and resumed vs uninterrupted, bit for bit; max relative"
                + " difference " + TinyJobs.relative(reference, out, tmp));
        TestProbe<Protocol.StatusReply> status = kit.createTestProbe();
        node.tell(new NodeSupervisor.GetStatus(second, status.getRef()));
        assertEquals("cancelled", status.receiveMessage().jobs()[0].state());
        kit.stop(node);
    }
}
