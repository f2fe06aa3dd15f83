package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two daemons of one fleet (Pekko Cluster over loopback TCP, two actor systems in this JVM, every message through
 * the Kryo wire format): a submission goes to the less loaded daemon, the fleet's status lists both, and an output
 * directory in use anywhere in the fleet is refused. The jobs never compute: each shard waits at its first phase
 * until the test lets it fail.
 */
class FleetTest {
    static final Duration ASK = Duration.ofSeconds(20);

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static Config node(int port, List<Integer> seeds, Path state) {
        StringBuilder seedList = new StringBuilder();
        for (int s : seeds) seedList.append(seedList.length() == 0 ? "" : ", ").append("\"127.0.0.1:").append(s).append('"');
        return Daemon.config(null, ConfigFactory.parseString("fastflux.daemon { host = \"127.0.0.1\"\nport = " + port
                + "\nstate-dir = \"" + state + "\"\nseed-nodes = [" + seedList + "] }\npekko.loglevel = WARNING\n"
                + "pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off\npekko.cluster.jmx.enabled = off"));
    }

    static <R> R ask(ActorSystem<NodeSupervisor.Command> node, java.util.function.Function<org.apache.pekko.actor.typed.ActorRef<R>, NodeSupervisor.Command> m) {
        return AskPattern.ask(node, m::apply, ASK, node.scheduler()).toCompletableFuture().join();
    }

    /** The fleet is formed once each daemon's receptionist lists both; A's view of it. */
    static Protocol.FleetStatusReply awaitFleetOfTwo(ActorSystem<NodeSupervisor.Command> na, ActorSystem<NodeSupervisor.Command> nb)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            Protocol.FleetStatusReply fa = ask(na, NodeSupervisor.GetFleetStatus::new);
            Protocol.FleetStatusReply fb = ask(nb, NodeSupervisor.GetFleetStatus::new);
            if (fa.nodes().length == 2 && fb.nodes().length == 2) return fa;
            assertTrue(System.nanoTime() < deadline, "no fleet of two after 60 s: " + fa.nodes().length + " nodes");
            Thread.sleep(200);
        }
    }

    @Test
    void aJobsImportanceProbeIsSharedWithAnIdleDaemonAndTheRankingIsTheLoneOne(@TempDir Path tmp) throws Exception {
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        try (Fleet f = Fleet.start(tmp, freePort(), freePort()); ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
            ActorSystem<NodeSupervisor.Command> na = f.a();
            ActorSystem<NodeSupervisor.Command> nb = f.b();
            int b = f.portB();
            awaitFleetOfTwo(na, nb);
            ai.djl.pytorch.jni.JniUtils.setGradMode(false);
            JobSpec spec = TinyJobs.spec(base, tmp.resolve("out"));
            fastflux.pruning.PruneJob job = new fastflux.pruning.PruneJob(base, tmp.resolve("out"), spec.options(),
                    fastflux.pruning.PruneJob.Listener.NONE, m);
            fastflux.pruning.ImportanceReport alone = fastflux.pruning.ImportanceScorer.byOutputMse(job.calibration());

            // B is idle: it measures its share (every other block), through the wire format, and the ranking is the lone one.
            FleetProbes shared = new FleetProbes(na, spec, NodeSupervisor.FLEET_TIMEOUT, Duration.ofSeconds(90));
            List<String> progress = new java.util.ArrayList<>();
            fastflux.pruning.ImportanceReport fleet = fastflux.pruning.ImportanceScorer.byOutputMse(job.calibration(), shared,
                    (done, block) -> progress.add(done + " " + block.name()));
            assertEquals(alone.toJson(), fleet.toJson());
            assertEquals(java.util.Map.of("here", 3, "127.0.0.1:" + b, 3), shared.measuredBy());
            assertEquals(List.of(1, 2, 3, 4, 5, 6), progress.stream().map(x -> Integer.parseInt(x.split(" ")[0])).toList());

            // Another model at the path on B's side is refused by B (here: a fingerprint that is not the model's).
            Protocol.ProbeReply wrong = ask(nb, r -> new NodeSupervisor.ProbeBlocks(spec, new String[] {"double_blocks.0"}, "1:beef", r));
            assertTrue(wrong.values() == null && wrong.error().contains("is not the job's"), wrong.error());

            // B busy with a job of its own: it refuses, A measures every block, and the ranking is again the lone one.
            Protocol.Reply held = ask(nb, r -> new NodeSupervisor.Submit(TinyJobs.spec(base, tmp.resolve("b-job")), r));
            assertTrue(held.ok(), held.message());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            Protocol.ProbeReply busy;
            do {
                busy = ask(nb, r -> new NodeSupervisor.ProbeBlocks(spec, new String[] {"double_blocks.0"}, "", r));
            } while (!String.valueOf(busy.error()).startsWith("busy") && System.nanoTime() < deadline);
            assertEquals("busy: running " + held.jobId(), busy.error());
            // (a refusal is a lookup and comes back at once; the generous grace only keeps a loaded machine from failing this)
            FleetProbes alone2 = new FleetProbes(na, spec, NodeSupervisor.FLEET_TIMEOUT, Duration.ofSeconds(90), Duration.ofSeconds(30));
            assertEquals(alone.toJson(), fastflux.pruning.ImportanceScorer.byOutputMse(job.calibration(), alone2, (d, x) -> {}).toJson());
            assertEquals(java.util.Map.of("here", 6), alone2.measuredBy());
            // B's refusal comes back at once, so its share joins A's own: one pass over the calibration, not four
            fastflux.pruning.ImportanceScorer.BlockProbe probe = fastflux.pruning.ImportanceScorer.outputMseProbe(job.calibration());
            List<Integer> passes = new java.util.ArrayList<>();
            alone2.run(fastflux.pruning.BlockSwap.allBlocks(job.flux()), (blocks, p) -> {
                passes.add(blocks.size());
                return probe.measure(blocks, p);
            }, (d, x) -> {});
            assertEquals(List.of(6), passes);
        }
    }

    /**
     * Two daemons of one fleet in this JVM, A on {@code portA}, B on {@code portB}; their shards wait at their first
     * phase until the fleet is closed, then fail, so that no job computes.
     */
    record Fleet(ActorSystem<NodeSupervisor.Command> a, ActorSystem<NodeSupervisor.Command> b, int portA, int portB,
                 CountDownLatch release) implements AutoCloseable {
        static Fleet start(Path tmp, int portA, int portB) {
            CountDownLatch release = new CountDownLatch(1);
            DeviceShard.FailureInjector hold = (phase, completed) -> {
                try {
                    release.await(2, TimeUnit.MINUTES);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                throw new IllegalArgumentException("held by the test");
            };
            Config ca = node(portA, List.of(portA, portB), tmp.resolve("state-a"));
            Config cb = node(portB, List.of(portA, portB), tmp.resolve("state-b"));
            assertEquals("cluster", ca.getString("pekko.actor.provider"));
            return new Fleet(ActorSystem.create(NodeSupervisor.create(Daemon.settings(ca, hold)), Daemon.SYSTEM, ca),
                    ActorSystem.create(NodeSupervisor.create(Daemon.settings(cb, hold)), Daemon.SYSTEM, cb), portA, portB, release);
        }

        @Override
        public void close() throws Exception {
            release.countDown();
            a.terminate();
            b.terminate();
            a.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
            b.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
        }
    }

    @Test
    void aFleetPlacesJobsOnItsLeastLoadedDaemonAndListsThemAll(@TempDir Path tmp) throws Exception {
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        int a = freePort();
        int b = freePort();
        assertEquals("remote", node(a, List.of(), tmp).getString("pekko.actor.provider"), "no seeds: a lone daemon");
        assertEquals("local", Daemon.config(null, ConfigFactory.parseString("pekko.actor.provider = local\n"
                + "fastflux.daemon.seed-nodes = [\"127.0.0.1:" + a + "\"]")).getString("pekko.actor.provider"),
                "a caller's own provider (the in-process node of `prune`) wins over the fleet");
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> Daemon.config(null,
                ConfigFactory.parseString("fastflux.daemon.seed-nodes = [\"127.0.0.1\"]")));
        assertTrue(bad.getMessage().contains("seed-nodes") && bad.getMessage().contains("127.0.0.1"), bad.getMessage());

        try (Fleet f = Fleet.start(tmp, a, b)) {
            ActorSystem<NodeSupervisor.Command> na = f.a();
            ActorSystem<NodeSupervisor.Command> nb = f.b();
            String addrA = "127.0.0.1:" + a;
            String addrB = "127.0.0.1:" + b;
            Protocol.FleetStatusReply fa = awaitFleetOfTwo(na, nb);
            assertEquals(java.util.Set.of(addrA, addrB), java.util.Arrays.stream(fa.nodes()).map(Protocol.NodeStatus::node)
                    .collect(java.util.stream.Collectors.toSet()));

            JobSpec one = TinyJobs.spec(base, tmp.resolve("out-1"));
            JobSpec two = TinyJobs.spec(base, tmp.resolve("out-2"));
            JobSpec three = TinyJobs.spec(base, tmp.resolve("out-3"));
            Protocol.Reply r1 = ask(na, r -> new NodeSupervisor.Place(one, r));
            assertTrue(r1.ok() && r1.message().contains("queued on " + addrA + " (watch, pause, resume, cancel it with --node " + addrA + ")"), r1.message()); // a tie: the daemon asked
            Protocol.Reply r2 = ask(na, r -> new NodeSupervisor.Place(two, r));
            assertTrue(r2.ok() && r2.message().contains("queued on " + addrB), r2.message()); // A holds one job, B none
            Protocol.Reply again = ask(nb, r -> new NodeSupervisor.Place(TinyJobs.spec(base, tmp.resolve("out-1")), r));
            assertFalse(again.ok());
            assertTrue(again.message().contains(r1.jobId()) && again.message().contains(addrA)
                    && again.message().contains("already writes to"), again.message());
            Protocol.Reply r3 = ask(nb, r -> new NodeSupervisor.Place(three, r));
            assertTrue(r3.ok() && r3.message().contains("on " + addrB), r3.message()); // a tie again: B was asked

            Protocol.FleetStatusReply all = ask(nb, NodeSupervisor.GetFleetStatus::new);
            assertEquals(0, all.unanswered().length);
            for (Protocol.NodeStatus n : all.nodes()) {
                List<String> outs = java.util.Arrays.stream(n.jobs()).map(Protocol.JobInfo::out).sorted().toList();
                assertEquals(n.node().equals(addrA) ? List.of(one.out()) : List.of(two.out(), three.out()), outs, n.node());
            }
        }
    }
}
