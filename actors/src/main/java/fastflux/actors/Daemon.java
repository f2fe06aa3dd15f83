package fastflux.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/** Starts a node: the Pekko system on the configured address with {@link NodeSupervisor} as its guardian. */
public final class Daemon {
    public static final String SYSTEM = "fastflux";

    private Daemon() {}

    /**
     * The effective configuration: system properties, then {@code file} (application.conf style), then the Pekko
     * settings of fastflux-pekko.conf, then every reference.conf; with the fleet's cluster settings and the
     * transport's ({@link Transport}: mutual TLS unless on loopback) derived from {@code fastflux.daemon}.
     *
     * @throws IllegalArgumentException when the daemon would listen on a network address without TLS settings
     */
    public static Config config(Path file, Config overrides) {
        Config app = file == null ? ConfigFactory.empty() : ConfigFactory.parseFile(file.toFile());
        if (file != null && app.isEmpty()) throw new IllegalArgumentException("config file " + file + " is missing or empty");
        Config c = ConfigFactory.defaultOverrides().withFallback(overrides).withFallback(app)
                .withFallback(ConfigFactory.parseResources("fastflux-pekko.conf"))
                .withFallback(ConfigFactory.defaultReference()).resolve();
        // A caller that sets the provider itself (the in-process node of `prune`: local) is never made a member.
        if (overrides.hasPath("pekko.actor.provider")) return c;
        // Mutual TLS whenever the port is reachable from another machine (Transport); refused here, before
        // anything binds, when its key and trust stores are not configured.
        Config full = ConfigFactory.defaultOverrides().withFallback(cluster(c)).withFallback(Transport.pekko(c)).withFallback(c);
        Transport.check(full);
        return full;
    }

    /**
     * The Pekko Cluster settings that {@code fastflux.daemon.seed-nodes} ("host:port" each) asks for: the cluster
     * provider and the seeds as the daemons' addresses; empty when there are no seeds (a lone daemon, Pekko's
     * remote provider). No downing provider: the daemons of a fleet are independent, so an unreachable one is only
     * left out of fleet queries (and named), never taken down.
     */
    static Config cluster(Config c) {
        List<String> seeds = c.getStringList("fastflux.daemon.seed-nodes");
        if (seeds.isEmpty()) return ConfigFactory.empty();
        List<String> addresses = new ArrayList<>();
        for (String s : seeds) {
            int colon = s.lastIndexOf(':');
            boolean ok = colon > 0 && colon < s.length() - 1;
            if (ok) {
                try {
                    int port = Integer.parseInt(s.substring(colon + 1));
                    ok = port > 0 && port < 65536;
                } catch (NumberFormatException e) {
                    ok = false;
                }
            }
            if (!ok) throw new IllegalArgumentException("fastflux.daemon.seed-nodes: expected \"host:port\", got \"" + s + "\"");
            addresses.add("pekko://" + SYSTEM + "@" + s);
        }
        return ConfigFactory.empty()
                .withValue("pekko.actor.provider", ConfigValueFactory.fromAnyRef("cluster"))
                .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(addresses));
    }

    private static java.util.List<String> allowedRoots(Config d) {
        java.util.List<String> roots = new java.util.ArrayList<>(d.getStringList("allowed-roots"));
        String home = System.getProperty("fastflux.home");
        if (home != null) roots.add(Path.of(home, "models").toString()); // the embedded models, read by default jobs
        return roots;
    }

    public static NodeSupervisor.Settings settings(Config c, DeviceShard.FailureInjector failures) {
        Config d = c.getConfig("fastflux.daemon");
        return new NodeSupervisor.Settings(Path.of(d.getString("state-dir")), d.getInt("watcher-buffer"), d.getInt("max-restarts"),
                d.getDuration("restart-window"), "fastflux.daemon.shard-dispatcher", failures,
                AllowedRoots.of(allowedRoots(d)));
    }

    /**
     * Starts the node. SIGTERM runs Pekko's coordinated shutdown, whose first phase asks the node to stop the
     * running job after its current phase (that phase's checkpoint written) before the system goes down.
     */
    public static ActorSystem<NodeSupervisor.Command> start(Config c) {
        NodeSupervisor.Settings settings = settings(c, DeviceShard.FailureInjector.NONE);
        new JobRegistry(settings.stateDir()).load(); // a damaged registry: one clear error before anything starts
        checkPortFree(c.getString("fastflux.daemon.host"), c.getInt("fastflux.daemon.port"));
        DaemonMetrics.bind(settings.stateDir()); // into Micrometer's global registry, which /metrics serves
        ActorSystem<NodeSupervisor.Command> system = ActorSystem.create(NodeSupervisor.create(settings), SYSTEM, c);
        Duration timeout = c.getDuration("fastflux.daemon.shutdown-timeout");
        CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "checkpoint-running-job",
                () -> stopAfterRunningPhase(system, timeout).exceptionally(e -> Done.getInstance()));
        return system;
    }

    /**
     * One line instead of Pekko's page of bind failures when the address is taken (another daemon, say) or is
     * not this machine's.
     */
    static void checkPortFree(String host, int port) {
        try (java.net.ServerSocket probe = new java.net.ServerSocket()) {
            probe.bind(new java.net.InetSocketAddress(host, port));
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("cannot listen on " + host + ":" + port + " (" + e.getMessage()
                    + "): another daemon may be there; choose another with --port or fastflux.daemon.port");
        }
    }

    /**
     * Runs until SIGTERM or SIGINT. The signals are taken before the JVM starts its shutdown hooks: native
     * libraries (libtorch, ND4J) free their state in those hooks, and the running phase must finish on an
     * intact engine before its checkpoint is written. So a signal asks the node to stop after the current
     * phase, waits for that, and only then terminates the system and lets the JVM exit.
     */
    public static void runForever(Config c) {
        runForever(c, system -> {});
    }

    /**
     * As {@link #runForever(Config)}, with {@code services} started beside the node once it is up (the HTTP API);
     * a service that fails to start stops the daemon with its error.
     */
    public static void runForever(Config c, Consumer<ActorSystem<NodeSupervisor.Command>> services) {
        ActorSystem<NodeSupervisor.Command> system = start(c);
        system.log().info("fastflux daemon listening on {} ({}); registry in {}", system.address(),
                Transport.tlsRequired(c) ? "mutual TLS" : "plain TCP, loopback only", c.getString("fastflux.daemon.state-dir"));
        // The signals are taken before the services start: a SIGTERM while they bind still stops after the phase.
        Duration timeout = c.getDuration("fastflux.daemon.shutdown-timeout");
        AtomicBoolean signalled = new AtomicBoolean();
        onSignals(system, timeout, sig -> {
            signalled.set(true);
            system.terminate();
        });
        try {
            services.accept(system);
        } catch (RuntimeException e) {
            if (signalled.get()) { // a service still starting when the signal's stop terminated the system
                system.getWhenTerminated().toCompletableFuture().join();
                return;
            }
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().join();
            throw e;
        }
        system.getWhenTerminated().toCompletableFuture().join();
    }

    /** Asks the node to stop its running job after the current phase (checkpoint written); completes when it has. */
    static CompletableFuture<Done> stopAfterRunningPhase(ActorSystem<NodeSupervisor.Command> system, Duration timeout) {
        return AskPattern.<NodeSupervisor.Command, Done>ask(system, NodeSupervisor.Shutdown::new, timeout, system.scheduler())
                .toCompletableFuture();
    }

    /**
     * Takes SIGTERM and SIGINT ahead of the JVM's shutdown hooks: the first one asks the node to stop after the
     * running phase and, once that phase's checkpoint is written (or {@code timeout} passed), calls
     * {@code afterStop} with the signal's name on a thread of its own. Closing the result restores the handlers
     * that were there before.
     */
    static AutoCloseable onSignals(ActorSystem<NodeSupervisor.Command> system, Duration timeout, Consumer<String> afterStop) {
        AtomicBoolean stopping = new AtomicBoolean();
        sun.misc.SignalHandler onSignal = sig -> {
            if (!stopping.compareAndSet(false, true)) return;
            system.log().info("SIG{}: stopping after the running phase (its checkpoint written)", sig.getName());
            Thread t = new Thread(() -> {
                try {
                    stopAfterRunningPhase(system, timeout).join();
                } catch (RuntimeException e) {
                    system.log().warn("the running phase did not finish within {}; exiting anyway", timeout);
                }
                afterStop.accept(sig.getName());
            }, "fastflux-shutdown");
            t.start();
        };
        Map<String, sun.misc.SignalHandler> previous = new LinkedHashMap<>();
        for (String sig : new String[] {"TERM", "INT"}) previous.put(sig, sun.misc.Signal.handle(new sun.misc.Signal(sig), onSignal));
        return () -> previous.forEach((sig, h) -> sun.misc.Signal.handle(new sun.misc.Signal(sig), h));
    }
}
