package fastflux.http;

import fastflux.actors.NodeSupervisor;
import fastflux.actors.Protocol;
import fastflux.actors.WatcherRelay;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.model.sse.ServerSentEvent;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.OverflowStrategy;
import org.apache.pekko.stream.QueueOfferResult;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.SourceQueueWithComplete;

/**
 * One SSE client's stream of a job's progress: a watcher of the node (as {@code fastflux watch} is) feeding a
 * bounded queue. The watcher acknowledges a snapshot to the node's {@link WatcherRelay} only once the queue has
 * taken it, so a client that reads slowly holds at most {@code sse-buffer} events here and the relay's window
 * there; meanwhile the relay keeps only the newest snapshot (conflation) and the job never waits.
 */
final class EventStream {
    private EventStream() {}

    private static final AtomicLong WATCHERS = new AtomicLong();

    private record Stop() {}

    /**
     * The job's events, or an empty Optional when the node has no such job. {@code clients} counts the streams
     * open now.
     */
    static CompletionStage<Optional<Source<ServerSentEvent, NotUsed>>> open(ActorSystem<NodeSupervisor.Command> system,
            String jobId, HttpSettings settings, int relayWindow, java.util.concurrent.atomic.AtomicInteger clients) {
        Pair<SourceQueueWithComplete<Protocol.Progress>, Source<Protocol.Progress, NotUsed>> pre =
                Source.<Protocol.Progress>queue(settings.sseBuffer(), OverflowStrategy.backpressure(), Math.max(1, relayWindow))
                        .preMaterialize(Materializer.matFromSystem(system));
        SourceQueueWithComplete<Protocol.Progress> queue = pre.first();
        ActorRef<Object> watcher = system.systemActorOf(watcher(queue), "sse-watcher-" + WATCHERS.incrementAndGet(), Props.empty());
        Duration timeout = settings.askTimeout();
        return AskPattern.<NodeSupervisor.Command, Protocol.Reply>ask(system,
                        r -> new NodeSupervisor.Watch(jobId, watcher.narrow(), r), timeout, system.scheduler())
                .handle((reply, err) -> {
                    if (err != null || !reply.ok()) {
                        watcher.tell(new Stop());
                        queue.complete();
                        if (err != null) throw new java.util.concurrent.CompletionException(err);
                        return Optional.<Source<ServerSentEvent, NotUsed>>empty();
                    }
                    clients.incrementAndGet();
                    queue.watchCompletion().whenComplete((done, e) -> {
                        clients.decrementAndGet();
                        watcher.tell(new Stop()); // the client went away: the relay ends with its watcher
                    });
                    Source<ServerSentEvent, NotUsed> events = pre.second().map(p -> ServerSentEvent.create(
                            JobJson.progress(p).toString(), Optional.empty(), Optional.of(Long.toString(p.seq())), java.util.OptionalInt.empty()));
                    return Optional.of(events.keepAlive(settings.sseKeepAlive(), ServerSentEvent::heartbeat));
                });
    }

    /** Offers each snapshot to the queue and acknowledges it to the relay once taken; completes the queue at the end. */
    private static Behavior<Object> watcher(SourceQueueWithComplete<Protocol.Progress> queue) {
        return Behaviors.receive(Object.class)
                .onMessage(Protocol.WatchEvent.class, e -> {
                    CompletionStage<QueueOfferResult> offered = queue.offer(e.progress());
                    if (e.progress().terminal()) {
                        offered.whenComplete((r, err) -> queue.complete());
                        return Behaviors.same(); // stopped by the queue's completion
                    }
                    ActorRef<WatcherRelay.Command> relay = e.ackTo();
                    offered.whenComplete((r, err) -> {
                        if (r == QueueOfferResult.enqueued()) relay.tell(new WatcherRelay.Ack());
                    });
                    return Behaviors.same();
                })
                .onMessage(Stop.class, s -> Behaviors.stopped())
                .build();
    }

}
