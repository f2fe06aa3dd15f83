package fastflux.actors;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * One watcher's buffer between the job and the wire. At most {@code window} snapshots are unacknowledged at a
 * time; while the watcher is behind, newer snapshots replace the pending one (conflation), so the relay holds
 * O(1) state and the job never waits for anyone. A watcher that disappears (death watch, remote included) just
 * ends its relay.
 */
public final class WatcherRelay extends AbstractBehavior<WatcherRelay.Command> {
    public sealed interface Command {}

    /** From the watcher: ready for the next snapshot. */
    public record Ack() implements Command, WireMessage {}

    /** From the node: the newest snapshot of the watched job. */
    public record Update(Protocol.Progress progress) implements Command {}

    private record WatcherGone() implements Command {}

    public static Behavior<Command> create(ActorRef<Protocol.WatchEvent> watcher, int window, Protocol.Progress first) {
        return Behaviors.setup(ctx -> new WatcherRelay(ctx, watcher, window, first));
    }

    private final ActorRef<Protocol.WatchEvent> watcher;
    private final int window;
    private int inFlight;
    private Protocol.Progress pending;
    private long conflated;

    private WatcherRelay(ActorContext<Command> ctx, ActorRef<Protocol.WatchEvent> watcher, int window, Protocol.Progress first) {
        super(ctx);
        this.watcher = watcher;
        this.window = Math.max(1, window);
        ctx.watchWith(watcher, new WatcherGone());
        if (first != null) pending = first;
        flush();
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Update.class, this::onUpdate)
                .onMessage(Ack.class, this::onAck)
                .onMessage(WatcherGone.class, g -> Behaviors.stopped())
                .build();
    }

    /** Snapshots replaced unseen so far (what conflation saved the watcher). */
    long conflated() {
        return conflated;
    }

    private Behavior<Command> onUpdate(Update u) {
        if (pending != null) conflated++;
        pending = u.progress();
        return flush();
    }

    private Behavior<Command> onAck(Ack a) {
        if (inFlight > 0) inFlight--;
        return flush();
    }

    private Behavior<Command> flush() {
        if (pending == null || inFlight >= window) return this;
        Protocol.Progress p = pending;
        pending = null;
        inFlight++;
        watcher.tell(new Protocol.WatchEvent(p, getContext().getSelf()));
        return p.terminal() ? Behaviors.stopped() : this;
    }
}
