package fastflux.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/** A short-lived client: its own Pekko system on an ephemeral loopback port, talking to the daemon's node. */
public final class DaemonClient implements AutoCloseable {
    private final ActorSystem<Void> system;
    private final ActorRef<NodeSupervisor.Command> node;
    private final Duration timeout;
    private final Config daemonConfig;

    public DaemonClient(Config daemonConfig, Duration timeout) {
        this.timeout = timeout;
        this.daemonConfig = daemonConfig;
        // A command-line client: Pekko's own chatter (connection set-up and tear-down) is noise here.
        if (org.slf4j.LoggerFactory.getLogger("org.apache.pekko") instanceof ch.qos.logback.classic.Logger l) {
            l.setLevel(ch.qos.logback.classic.Level.ERROR);
        }
        String host = daemonConfig.getString("fastflux.daemon.host");
        int port = daemonConfig.getInt("fastflux.daemon.port");
        // A client is never a cluster member, whatever the daemon's configuration says. The daemon answers on a
        // connection of its own to the client's address: the one this machine reaches the daemon from.
        Config c = ConfigFactory.parseString("pekko.actor.provider = remote\npekko.remote.artery.canonical.port = 0\npekko.loglevel = WARNING\n"
                + "pekko.log-dead-letters = off\npekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off\n"
                + "pekko.remote.warn-about-direct-use = off\npekko.remote.artery.bind.hostname = \"\"")
                .withValue("pekko.remote.artery.canonical.hostname", com.typesafe.config.ConfigValueFactory.fromAnyRef(localAddressTowards(host, port)))
                .withFallback(daemonConfig);
        this.system = ActorSystem.create(Behaviors.empty(), "fastflux-client", c);
        String path = "pekko://" + Daemon.SYSTEM + "@" + host + ":" + port + "/user";
        RefusedConnections.LAST_CLIENT_FAILURE.set(null);
        try {
            org.apache.pekko.actor.ActorRef classic = system.classicSystem().actorSelection(path).resolveOne(timeout)
                    .toCompletableFuture().join();
            this.node = Adapter.toTyped(classic);
        } catch (CompletionException e) {
            system.terminate();
            String tls = RefusedConnections.LAST_CLIENT_FAILURE.get();
            throw new IllegalStateException("no fastflux daemon answers at " + host + ":" + port + (tls != null ? " (" + tls
                    + "; check fastflux.daemon.key-store and trust-store: this client's certificate and the fleet CA)"
                    : Transport.tlsRequired(daemonConfig) ? " over mutual TLS (start one with `fastflux daemon`, with the same fleet CA)"
                    : " (start one with `fastflux daemon`; a daemon on mutual TLS answers only a client with fastflux.daemon.tls = on"
                            + " and a certificate of its fleet)"));
        }
    }

    /** This machine's address on the route to {@code host} (loopback for a local daemon); no packet is sent. */
    static String localAddressTowards(String host, int port) {
        if (Transport.loopback(host)) return "127.0.0.1";
        try (java.net.DatagramSocket s = new java.net.DatagramSocket()) {
            s.connect(new java.net.InetSocketAddress(host, port));
            java.net.InetAddress local = s.getLocalAddress();
            if (local == null || local.isAnyLocalAddress()) throw new IllegalStateException("no route");
            return local.getHostAddress();
        } catch (java.io.IOException | RuntimeException e) {
            throw new IllegalStateException("cannot reach " + host + ":" + port + " from this machine: " + e.getMessage());
        }
    }

    public <R> R ask(Function<ActorRef<R>, NodeSupervisor.Command> message) {
        try {
            return AskPattern.ask(node, message::apply, timeout, system.scheduler()).toCompletableFuture().join();
        } catch (CompletionException e) {
            throw new IllegalStateException("the daemon did not answer within " + timeout.toSeconds() + " s: " + e.getCause());
        }
    }

    /**
     * Streams a job's progress to {@code onEvent} until the job reaches a final state (returned), or the daemon
     * goes away (IllegalStateException). Each snapshot is acknowledged after {@code onEvent} returns: a slow
     * consumer only sees fewer, newer snapshots.
     */
    /** How long a watch waits, after the daemon side's relay is gone, for a terminal event still on its way. */
    static final long LATE_TERMINAL_MS = 2000;
    private static final java.util.concurrent.atomic.AtomicLong WATCHERS = new java.util.concurrent.atomic.AtomicLong();

    /** How long a watch whose relay is gone waits for the daemon to answer again before saying it went away. */
    static final Duration RECONNECT = Duration.ofSeconds(5);

    public Protocol.Progress watch(String jobId, Consumer<Protocol.Progress> onEvent) {
        try {
            return watchOnce(jobId, onEvent);
        } catch (RelayLost lost) {
            // The relay's death notice also comes to a client that was stopped (SIGSTOP, a suspended machine) for longer
            // than the failure detector allows, and the daemon has dropped it in turn: ask again on a fresh connection
            // before saying the daemon went away, and watch on from there.
            DaemonClient fresh;
            try {
                fresh = new DaemonClient(daemonConfig, RECONNECT.compareTo(timeout) < 0 ? RECONNECT : timeout);
            } catch (RuntimeException e) {
                throw new IllegalStateException("lost the daemon (it stopped or was killed)");
            }
            try (fresh) {
                return fresh.watch(jobId, onEvent);
            }
        }
    }

    /** The daemon side's relay went away without a final event. */
    private static final class RelayLost extends RuntimeException {
        RelayLost() {
            super("the watch's relay is gone", null, false, false);
        }
    }

    private Protocol.Progress watchOnce(String jobId, Consumer<Protocol.Progress> onEvent) {
        CompletableFuture<Protocol.Progress> end = new CompletableFuture<>();
        Behavior<Protocol.WatchEvent> watcher = Behaviors.setup(ctx -> {
            boolean[] watching = {false};
            return Behaviors.receive(Protocol.WatchEvent.class)
                    .onMessage(Protocol.WatchEvent.class, e -> {
                        if (!watching[0]) {
                            ctx.watch(e.ackTo());
                            watching[0] = true;
                        }
                        onEvent.accept(e.progress());
                        e.ackTo().tell(new WatcherRelay.Ack());
                        if (e.progress().terminal()) {
                            end.complete(e.progress());
                            return Behaviors.stopped();
                        }
                        return Behaviors.same();
                    })
                    .onSignal(org.apache.pekko.actor.typed.Terminated.class, t -> {
                        // The relay stops right after sending the terminal event, and over the wire Pekko does not
                        // order that message before the death notice: give a late terminal event a moment to win.
                        CompletableFuture.delayedExecutor(LATE_TERMINAL_MS, java.util.concurrent.TimeUnit.MILLISECONDS)
                                .execute(() -> end.completeExceptionally(new RelayLost()));
                        return Behaviors.same();
                    })
                    .build();
        });
        ActorRef<Protocol.WatchEvent> ref = system.systemActorOf(watcher, "watcher-" + WATCHERS.incrementAndGet(), Props.empty());
        Protocol.Reply r = ask(replyTo -> new NodeSupervisor.Watch(jobId, ref, replyTo));
        if (!r.ok()) throw new IllegalArgumentException(r.message());
        try {
            return end.join();
        } catch (CompletionException e) {
            throw (RuntimeException) e.getCause();
        }
    }

    @Override
    public void close() {
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(10, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception e) {
            // best effort: the process exits anyway
        }
    }
}
