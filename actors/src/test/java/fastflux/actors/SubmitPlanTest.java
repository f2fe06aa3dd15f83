package fastflux.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fastflux.pruning.JobOptions;
import fastflux.pruning.plan.JobPlan;
import fastflux.pruning.plan.JobPlanner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A node plans a job at submit, as `fastflux prune` does: one its memory cannot hold is refused before any work. */
class SubmitPlanTest {
    static ActorTestKit kit;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("submit-plan-test", com.typesafe.config.ConfigFactory.parseString("pekko.actor.provider = local")
                .withFallback(com.typesafe.config.ConfigFactory.load()));
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    @Test
    void aJobThatCannotFitIsRefusedNamingPhaseAndDeviceBeforeItIsQueued(@TempDir Path tmp) throws Exception {
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        Path out = tmp.resolve("out");
        JobSpec tooBig = TinyJobs.spec(base, out).with(JobOptions.MEMORY_LIMIT, 1L << 20);
        // the plan of the same job as the command line's planner makes it here (the project's own layout)
        JobPlan plan = JobPlanning.plan(tooBig.values());
        assertNotNull(plan, "a tiny model in the project's layout is planned");
        assertNull(JobPlanner.installed(), "this module has no installed planner; the node plans the own layout itself");

        ActorRef<NodeSupervisor.Command> node = kit.spawn(NodeSupervisor.create(NodeSupervisorTest.settings(tmp.resolve("node"),
                DeviceShard.FailureInjector.NONE)));
        TestProbe<Protocol.Reply> replies = kit.createTestProbe();
        node.tell(new NodeSupervisor.Submit(tooBig, replies.getRef()));
        Protocol.Reply r = replies.receiveMessage(Duration.ofMinutes(1));
        assertFalse(r.ok(), r.message());
        assertNull(r.jobId());
        assertTrue(JobPlanner.refusal(r.message()), r.message());
        assertTrue(r.message().contains("on cpu, which has 1.0 MiB (--memory-limit)"), r.message());
        assertTrue(r.message().matches("this job cannot fit: phase [a-z -]+ needs .*"), r.message());
        try (var written = Files.exists(out) ? Files.walk(out) : java.util.stream.Stream.<Path>empty()) {
            java.util.List<Path> files = written.filter(Files::isRegularFile).toList();
            assertTrue(files.isEmpty(), "no work started, but there are " + files);
        }

        TestProbe<Protocol.StatusReply> status = kit.createTestProbe();
        node.tell(new NodeSupervisor.GetStatus("", status.getRef()));
        assertEquals(0, status.receiveMessage().jobs().length, "nothing queued");

        // the same job with the machine's memory fits and is queued
        TestProbe<Protocol.Reply> ok = kit.createTestProbe();
        node.tell(new NodeSupervisor.Submit(TinyJobs.spec(base, tmp.resolve("out2")), ok.getRef()));
        Protocol.Reply accepted = ok.receiveMessage(Duration.ofMinutes(1));
        assertTrue(accepted.ok(), accepted.message());
        node.tell(new NodeSupervisor.Cancel(accepted.jobId(), kit.createTestProbe(Protocol.Reply.class).getRef()));
        kit.stop(node);
    }
}
