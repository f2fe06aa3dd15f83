package fastflux.http;

import fastflux.actors.NodeSupervisor;
import fastflux.actors.Protocol;
import fastflux.actors.WatcherRelay;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.model.sse.ServerSentEvent;
import org.apache.pekko.stream.OverflowStrategy;
import org.apache.pekko.stream.QueueOfferResult;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.SourceQueueWithComplete;

/**
 * One SSE client's stream of a job's progress: a watcher of the node (as {@code fastflux watch} is) feeding a
 * bounded queue. The watcher acknowledges a snapshot to the node's {@link WatcherRelay} only once the queue has
 * taken it, so a client that reads slowly holds at most {@code sse-buffer} events here and the relay's window
 * there; meanwhile the relay keeps only the newest snapshot (conflation) and the job never waits. The watcher
 * exists only while the HTTP layer runs the stream: it starts when the response is sent and stops when the
 * client goes away or the job ends.
 */
final class EventStream {
    private EventStream() {}

    private static final AtomicLong WATCHERS = new AtomicLong();

    private record Stop() {}

    /**
     * The job's events from {@code node} (this daemon's, or the fleet member that has the job), or an empty
     * Optional when that node has no such job. {@code clients} counts the streams open now.
     */
    static CompletionStage<Optional<Source<ServerSentEvent, NotUsed>>> open(ActorSystem<NodeSupervisor.Command> system,
            ActorRef<NodeSupervisor.Command> node, String jobId, HttpSettings settings, int relayWindow, AtomicInteger clients) {
        return AskPattern.<NodeSupervisor.Command, Protocol.StatusReply>ask(node, r -> new NodeSupervisor.GetStatus(jobId, r),
                settings.askTimeout(), system.scheduler()).thenApply(s -> {
                    if (s.jobs().length == 0) return Optional.empty();
                    Source<Protocol.Progress, NotUsed> progress = Source.<Protocol.Progress>queue(settings.sseBuffer(),
                            OverflowStrategy.backpressure(), Math.max(1, relayWindow)).mapMaterializedValue(queue -> {
                                watch(system, node, jobId, queue, clients);
                                return NotUsed.getInstance();
                            });
                    Source<ServerSentEvent, NotUsed> events = progress.map(p -> ServerSentEvent.create(JobJson.progress(p).toString(),
                            Optional.empty(), Optional.of(Long.toString(p.seq())), java.util.OptionalInt.empty()));
                    return Optional.of(events.keepAlive(settings.sseKeepAlive(), ServerSentEvent::heartbeat));
                });
    }

    /** Runs when the stream starts: a watcher of the job for {@code queue}, counted in {@code clients} until it ends. */
    private static void watch(ActorSystem<NodeSupervisor.Command> system, ActorRef<NodeSupervisor.Command> node, String jobId,
                              SourceQueueWithComplete<Protocol.Progress> queue, AtomicInteger clients) {
        clients.incrementAndGet();
        ActorRef<Object> watcher = system.systemActorOf(watcher(queue), "sse-watcher-" + WATCHERS.incrementAndGet(), Props.empty());
        queue.watchCompletion().whenComplete((done, e) -> {
            clients.decrementAndGet();
            watcher.tell(new Stop()); // the client went away or the job ended: the relay ends with its watcher
        });
        node.tell(new NodeSupervisor.Watch(jobId, watcher.narrow(), watcher.narrow())); // this node, or the fleet member that has the job
    }

    /**
     * Offers each snapshot to the queue and acknowledges it to the relay once taken; completes the queue at the
     * job's end, or at once if the node refuses the watch.
     */
    private static Behavior<Object> watcher(SourceQueueWithComplete<Protocol.Progress> queue) {
        return Behaviors.receive(Object.class)
                .onMessage(Protocol.Reply.class, r -> {
                    if (!r.ok()) queue.complete();
                    return Behaviors.same();
                })
                .onMessage(Protocol.WatchEvent.class, e -> {
                    CompletionStage<QueueOfferResult> offered = queue.offer(e.progress());
                    if (e.progress().terminal()) {
                        offered.whenComplete((r, err) -> queue.complete());
                        return Behaviors.same(); // stopped once the queue has completed
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
