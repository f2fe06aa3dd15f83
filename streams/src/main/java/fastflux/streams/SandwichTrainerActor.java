package fastflux.streams;

import fastflux.pruning.SandwichTrainer;
import fastflux.pruning.StreamingSandwich;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Scheduler;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * The sandwich trainer as an actor fed by the calibration stream (issue 36 §3): the stream's sink hands each step's
 * pairs over with an ask ({@link Offer}) and waits for the answer, which comes once the trainer has run every training
 * step those pairs complete: the stream is never more than the trainer's window, a minibatch and one hand-over ahead
 * ({@link StreamingSandwich#bound}). The actor runs on a pinned dispatcher (one thread of its own, grad mode off as
 * for the shards: libtorch's grad mode is per thread), so training runs beside the shards' denoising and off the
 * stream's dispatcher. The optimisation itself is pruning's ({@link SandwichTrainer}, {@link StreamingSandwich});
 * this actor only drives it.
 *
 * <p>{@link #feed} is the {@link SandwichTrainer.Feed} a job uses ({@code PruneJob.sandwichFeed}): one actor per
 * sandwich, stopped when its feed closes.
 */
public final class SandwichTrainerActor extends AbstractBehavior<SandwichTrainerActor.Command> {
    public sealed interface Command {}

    /** The next pairs of the stream, in its order; answered once they are taken in. */
    public record Offer(List<float[]> records, ActorRef<Reply> replyTo) implements Command {}

    /** The stream has ended: the remaining steps, then the result. */
    public record Finish(ActorRef<Reply> replyTo) implements Command {}

    /** Stops without finishing (the stream failed); answered once stopped. */
    public record Stop(ActorRef<Reply> replyTo) implements Command {}

    /**
     * An answer: pairs the stream is ahead of training now, the result after {@link Finish}, or the error that
     * stopped training (the ask then fails with it).
     */
    public record Reply(long ahead, SandwichTrainer.Result result, RuntimeException error) {}

    private static final Duration ASK_TIMEOUT = Duration.ofDays(1);
    private static final AtomicLong TRAINERS = new AtomicLong();

    private final StreamingSandwich trainer;

    private SandwichTrainerActor(ActorContext<Command> ctx, StreamingSandwich trainer) {
        super(ctx);
        this.trainer = trainer;
    }

    /** A trainer actor over {@code trainer} (which its caller closes after the actor stops). */
    public static Behavior<Command> create(StreamingSandwich trainer) {
        return Behaviors.setup(ctx -> {
            ai.djl.engine.Engine.getInstance();
            ai.djl.pytorch.jni.JniUtils.setGradMode(false); // the pinned thread's; AdamW's in-place steps need it off
            return new SandwichTrainerActor(ctx, trainer);
        });
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Offer.class, this::onOffer)
                .onMessage(Finish.class, this::onFinish)
                .onMessage(Stop.class, s -> {
                    s.replyTo().tell(new Reply(0, null, null));
                    return Behaviors.stopped();
                })
                .build();
    }

    private Behavior<Command> onOffer(Offer o) {
        try {
            trainer.accept(o.records());
            o.replyTo().tell(new Reply(trainer.ahead(), null, null));
        } catch (RuntimeException e) {
            o.replyTo().tell(new Reply(0, null, e));
        }
        return this;
    }

    private Behavior<Command> onFinish(Finish f) {
        try {
            f.replyTo().tell(new Reply(0, trainer.finish(), null));
        } catch (RuntimeException e) {
            f.replyTo().tell(new Reply(0, null, e));
        }
        return Behaviors.stopped();
    }

    /** Feeds each sandwich's trainer through an actor of {@code system} (a system actor, like the shards). */
    public static SandwichTrainer.Feed feed(ActorSystem system) {
        return trainer -> new Fed(system, trainer);
    }

    /** One sandwich's feed: asks the actor and waits, so the recording thread holds the stream back. */
    private static final class Fed implements SandwichTrainer.Fed {
        private final ActorRef<Command> actor;
        private final Scheduler scheduler;
        private boolean finished;

        Fed(ActorSystem system, StreamingSandwich trainer) {
            this.scheduler = Adapter.toTyped(system.scheduler());
            this.actor = Adapter.toTyped(((ExtendedActorSystem) system).systemActorOf(
                    Adapter.props(() -> create(trainer), DispatcherSelector.fromConfig(ShardChain.DISPATCHER)),
                    "fastflux-sandwich-trainer-" + TRAINERS.incrementAndGet()));
        }

        @Override
        public void offer(List<float[]> records) {
            ask(r -> new Offer(records, r));
        }

        @Override
        public SandwichTrainer.Result finish() {
            finished = true;
            return ask(Finish::new).result();
        }

        private Reply ask(java.util.function.Function<ActorRef<Reply>, Command> message) {
            Reply r;
            try {
                r = AskPattern.ask(actor, message::apply, ASK_TIMEOUT, scheduler).toCompletableFuture().get();
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException("the sandwich trainer did not answer", e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while the sandwich trainer trained", e);
            }
            if (r.error() != null) throw r.error();
            return r;
        }

        /** Stops the actor (unless {@link #finish} did) and waits until it has, so its trainer may be closed. */
        @Override
        public void close() {
            if (finished) return;
            try {
                AskPattern.<Command, Reply>ask(actor, Stop::new, ASK_TIMEOUT, scheduler).toCompletableFuture().get(10, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                throw new IllegalStateException("the sandwich trainer did not stop", e);
            }
        }
    }
}
