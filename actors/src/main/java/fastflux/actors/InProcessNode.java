package fastflux.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The daemon's actor system for one job inside a command ({@code fastflux prune}): the same {@link NodeSupervisor},
 * {@link PruningCoordinator} and {@link DeviceShard} with the daemon's settings, but Pekko's local provider (no
 * remoting, nothing bound) and the job queue in memory. The job is submitted, watched until it ends, and the
 * system goes down. SIGTERM/SIGINT stop the job after its running phase, checkpoint written, as in the daemon, so
 * the same command started again resumes.
 */
public final class InProcessNode {
    private InProcessNode() {}

    /**
     * How the command ended: its job's terminal state's word (done; failed, {@code detail} the error) or
     * {@link #INTERRUPTED} ({@code detail}: the signal), which is the command's ending and no state of the job.
     */
    public record Outcome(String state, String detail) {
        public static final String INTERRUPTED = "interrupted";

        public boolean done() {
            return state.equals(JobState.DONE.word());
        }
    }

    /** The daemon's configuration ({@link Daemon#config}) with remoting off: system properties still override. */
    public static Config config() {
        return Daemon.config(null, ConfigFactory.parseString("pekko.actor.provider = local\n"
                + "pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off\n"
                // The command's progress bars are its output; the node's life-cycle lines are the daemon's log.
                + "pekko.loglevel = WARNING\npekko.stdout-loglevel = WARNING"));
    }

    /** Runs {@code spec} to its end; every progress snapshot goes to {@code onProgress} (on an actor's thread). */
    public static Outcome run(JobSpec spec, Config c, Consumer<Protocol.Progress> onProgress) {
        spec.validate();
        quietNodeLogs();
        NodeSupervisor.Settings settings = Daemon.settings(c, DeviceShard.FailureInjector.NONE).inMemory();
        ActorSystem<NodeSupervisor.Command> system = ActorSystem.create(NodeSupervisor.create(settings), Daemon.SYSTEM, c);
        Duration timeout = c.getDuration("fastflux.daemon.shutdown-timeout");
        CompletableFuture<Outcome> end = new CompletableFuture<>();
        try (AutoCloseable signals = Daemon.onSignals(system, timeout, sig -> end.complete(new Outcome(Outcome.INTERRUPTED, "SIG" + sig)))) {
            ActorRef<Protocol.WatchEvent> watcher = system.systemActorOf(watcher(onProgress, end), "prune-watcher", Props.empty());
            Duration ask = Duration.ofSeconds(30);
            Protocol.Reply submitted = AskPattern.<NodeSupervisor.Command, Protocol.Reply>ask(system,
                    r -> new NodeSupervisor.Submit(spec, r), ask, system.scheduler()).toCompletableFuture().join();
            if (!submitted.ok()) return new Outcome(JobState.FAILED.word(), submitted.message());
            Protocol.Reply watching = AskPattern.<NodeSupervisor.Command, Protocol.Reply>ask(system,
                    r -> new NodeSupervisor.Watch(submitted.jobId(), watcher, r), ask, system.scheduler()).toCompletableFuture().join();
            if (!watching.ok()) return new Outcome(JobState.FAILED.word(), watching.message());
            return end.join();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().join();
        }
    }

    /** Hands each snapshot on, acknowledges it, and completes {@code end} at the job's terminal state. */
    private static Behavior<Protocol.WatchEvent> watcher(Consumer<Protocol.Progress> onProgress, CompletableFuture<Outcome> end) {
        return Behaviors.receive(Protocol.WatchEvent.class)
                .onMessage(Protocol.WatchEvent.class, e -> {
                    Protocol.Progress p = e.progress();
                    onProgress.accept(p);
                    if (p.terminal()) {
                        end.complete(new Outcome(p.state().word(), p.detail()));
                        return Behaviors.stopped();
                    }
                    e.ackTo().tell(new WatcherRelay.Ack());
                    return Behaviors.same();
                })
                .build();
    }

    /**
     * The node's life-cycle INFO lines (queued, starting, shard ready ...) would interleave with the command's
     * progress bars; the coordinator's phase lines stay, they say where the job is.
     */
    private static void quietNodeLogs() {
        for (Class<?> c : new Class<?>[] {NodeSupervisor.class, DeviceShard.class}) {
            if (org.slf4j.LoggerFactory.getLogger(c) instanceof ch.qos.logback.classic.Logger l && l.getLevel() == null) {
                l.setLevel(ch.qos.logback.classic.Level.WARN);
            }
        }
    }
}
