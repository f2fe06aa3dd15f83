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
            if (e.progress().terminal() || e.progress().state() == JobState.PAUSED) return e.progress();
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
        assertEquals(JobState.DONE, last.state(), last.detail());
        assertEquals(2, crashes.get());
        Path out = tmp.resolve("out/model.safetensors");
        assertArrayEquals(reference, Files.readAllBytes(out), "the restarted job's model equals the uninterrupted one bit for"
                + " bit; max relative difference " + TinyJobs.relative(reference, out, tmp));
        kit.stop(node);
    }

    @Test
    void aFullDiskFailsTheJobNamingTheDiskAndTheJobSubmittedAgainResumesWhenThereIsRoom(@TempDir Path tmp) throws Exception {
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        byte[] reference = TinyJobs.reference(TinyJobs.spec(base, tmp.resolve("reference")));
        Path state = tmp.resolve("out/state");
        // the disk fills as the first block, done, is checkpointed (its stage is the first file written)
        AtomicInteger attempts = new AtomicInteger();
        DeviceShard.FailureInjector failures = (phase, completed) -> {
            if (phase.equals("checkpoint") && completed == 1 && attempts.getAndIncrement() == 0) {
                fastflux.checkpoints.AtomicFiles.hook(fastflux.checkpoints.AtomicFiles.WriteHook.noSpaceAfter(state, 0));
            }
        };
        ActorRef<NodeSupervisor.Command> node = kit.spawn(NodeSupervisor.create(settings(tmp.resolve("node"), failures)));
        try {
            Protocol.Progress failed = awaitTerminal(node, submit(node, TinyJobs.spec(base, tmp.resolve("out"))));
            assertEquals(JobState.FAILED, failed.state(), failed.detail());
            assertEquals(1, attempts.get(), "failed at once: a restart would only meet the full disk again");
            assertTrue(failed.detail().contains("cannot write checkpoint stage-0001 to " + state + ": " + state
                    + "/stage-components-0001.safetensors: no space left on device (file system "), failed.detail());
        } finally {
            fastflux.checkpoints.AtomicFiles.hook(fastflux.checkpoints.AtomicFiles.WriteHook.NONE);
        }
        fastflux.pruning.PruneState last = fastflux.pruning.PruneState.read(state, TinyJobs.PARAMS);
        assertTrue(last.completed().isEmpty() && last.fitted() != null, "the last checkpoint, the first block's fit, is intact");
        Protocol.Progress done = awaitTerminal(node, submit(node, TinyJobs.spec(base, tmp.resolve("out"))));
        assertEquals(JobState.DONE, done.state(), done.detail());
        assertArrayEquals(reference, Files.readAllBytes(tmp.resolve("out/model.safetensors")));
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
        Path link = Files.createSymbolicLink(tmp.resolve("link-to-a"), tmp.resolve("a"));
        node.tell(new NodeSupervisor.Submit(TinyJobs.spec(base, link), replies.getRef()));
        Protocol.Reply viaLink = replies.receiveMessage();
        assertFalse(viaLink.ok(), "a link to a running job's output is that job's output");
        assertTrue(viaLink.message().contains(first + " (") && viaLink.message().contains("already writes to"), viaLink.message());
        node.tell(new NodeSupervisor.Pause(first, replies.getRef()));
        assertTrue(replies.receiveMessage().ok());
        node.tell(new NodeSupervisor.Cancel(second, replies.getRef()));
        assertTrue(replies.receiveMessage().ok(), "a queued job is cancelled at once");
        assertEquals(JobState.PAUSED, awaitTerminal(node, first).state());
        assertFalse(Files.exists(tmp.resolve("a/model.safetensors")), "paused before export");
        node.tell(new NodeSupervisor.Resume(first, replies.getRef()));
        assertTrue(replies.receiveMessage().ok());
        assertEquals(JobState.DONE, awaitTerminal(node, first).state());
        node.tell(new NodeSupervisor.Resume(first, replies.getRef()));
        Protocol.Reply again = replies.receiveMessage();
        assertFalse(again.ok(), "a done job is not resumed");
        assertEquals(first + " is done: only a paused job can be resumed", again.message());
        node.tell(new NodeSupervisor.Pause(second, replies.getRef()));
        assertEquals(second + " is cancelled: only a queued or running job can be paused", replies.receiveMessage().message());
        Path out = tmp.resolve("a/model.safetensors");
        assertArrayEquals(reference, Files.readAllBytes(out), "paused and resumed vs uninterrupted, bit for bit; max relative"
                + " difference " + TinyJobs.relative(reference, out, tmp));
        TestProbe<Protocol.StatusReply> status = kit.createTestProbe();
        node.tell(new NodeSupervisor.GetStatus(second, status.getRef()));
        assertEquals(JobState.CANCELLED, status.receiveMessage().jobs()[0].state());
        kit.stop(node);
    }
}
