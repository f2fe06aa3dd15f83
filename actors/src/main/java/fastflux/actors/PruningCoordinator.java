package fastflux.actors;

import fastflux.pruning.JobPhase;
import fastflux.pruning.LogContext;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * One job's state machine over PruneJob's phases: the base model's quality (when the report compares it, before
 * any block is replaced), importance, then one block at a time (fit: collect and solve, checkpoint; sandwich:
 * train, checkpoint), then
 * export and the report (quality of the pruned model, FLOPs, latency, time per phase). It never touches a tensor: it asks its {@link DeviceShard} for the
 * next phase and decides from the plain state the shard reports. A restarted shard reports the state of the
 * checkpoint it reloaded, and the machine simply continues from there. Pause and cancel take effect between
 * phases.
 */
public final class PruningCoordinator extends AbstractBehavior<PruningCoordinator.Command> {
    public sealed interface Command {}

    /**
     * Where the shard's job stands: after {@code phase} (null: just (re)loaded from the checkpoint); {@code fitted}:
     * the next block's linear is fitted and its sandwich training is still to run; {@code measureBase}: the base
     * model's quality is still to be measured, before any block is replaced.
     */
    public record ShardState(JobPhase phase, boolean ordered, int blocksDone, boolean fitted, int blocksTotal,
                             boolean measureBase) {
        /** The phase to run from here: the job's sequence ({@link JobPhase.Position#next}), from what the checkpoint holds. */
        JobPhase nextPhase() {
            return new JobPhase.Position(phase, ordered, blocksDone, fitted, blocksTotal, measureBase).next();
        }
    }

    /** The shard (re)started and loaded the newest good checkpoint. */
    public record ShardReady(ShardState state) implements Command {}

    public record PhaseDone(ShardState state) implements Command {}

    public record JobProgress(String phase, String block, long done, long total, String detail) implements Command {}

    /** One step of the sandwich training the shard runs now. */
    public record JobLoss(Protocol.LossPoint point) implements Command {}

    /** Why a job stops between phases; its {@link #toString} is the word the node logs. */
    public enum StopReason {
        PAUSED, CANCELLED, SHUTDOWN;

        /** Which of two requests stands: a cancel overrides any other, otherwise the first one stays. */
        StopReason and(StopReason later) {
            return later == CANCELLED ? CANCELLED : this;
        }

        @Override
        public String toString() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** The latest progress report of the shard or of this coordinator, which a sandwich step repeats. */
    private JobProgress lastProgress;

    /** Stop after the current phase. */
    public record StopAfterPhase(StopReason reason) implements Command {}

    /**
     * The shard is about to crash: its supervisor restarts it, and the error is kept for the job's if it never
     * recovers; a {@code fatal} one (the job's own fault, which a restart would meet again) fails the job at once.
     */
    public record ShardError(String error, boolean fatal) implements Command {}

    private record ShardStopped() implements Command {}

    /** What the coordinator tells its node. */
    public sealed interface Event {
        String jobId();
    }

    public record Progressed(String jobId, String phase, String block, long done, long total, String detail,
                             int blocksDone, int blocksTotal, double elapsedSeconds, double etaSeconds, Protocol.LossPoint loss)
            implements Event {
        public Progressed(String jobId, String phase, String block, long done, long total, String detail,
                          int blocksDone, int blocksTotal, double elapsedSeconds, double etaSeconds) {
            this(jobId, phase, block, done, total, detail, blocksDone, blocksTotal, elapsedSeconds, etaSeconds, null);
        }
    }

    public record Finished(String jobId) implements Event {}

    /** Stopped between phases on request; the job's checkpoint holds everything done so far. */
    public record Stopped(String jobId, StopReason reason) implements Event {}

    public record Failed(String jobId, String error) implements Event {}

    /** Makes the (supervised) shard behavior of a job; tests pass one with a failure injector or a probe. */
    public interface ShardFactory {
        Behavior<DeviceShard.Command> create(JobSpec spec, ActorRef<Command> coordinator);
    }

    public static Behavior<Command> create(String jobId, JobSpec spec, ActorRef<Event> node, ShardFactory shards,
                                           org.apache.pekko.actor.typed.Props shardProps) {
        // every line of the job's work carries its id and phase (LogContext): here, and on the shard's thread
        return Behaviors.withMdc(Command.class, java.util.Map.of(LogContext.JOB_ID, jobId),
                Behaviors.setup(ctx -> new PruningCoordinator(ctx, jobId, spec, node, shards, shardProps)));
    }

    private final String jobId;
    private final ActorRef<Event> node;
    private final ActorRef<DeviceShard.Command> shard;
    private final long startNanos = System.nanoTime();
    private ShardState state = new ShardState(null, false, 0, false, 0, false);
    private int blocksAtStart = -1;
    private StopReason stopReason;
    private boolean ended;
    private String lastError = "no error reported";

    private PruningCoordinator(ActorContext<Command> ctx, String jobId, JobSpec spec, ActorRef<Event> node,
                               ShardFactory shards, org.apache.pekko.actor.typed.Props shardProps) {
        super(ctx);
        this.jobId = jobId;
        this.node = node;
        this.shard = ctx.spawn(Behaviors.withMdc(DeviceShard.Command.class, java.util.Map.of(LogContext.JOB_ID, jobId),
                m -> m instanceof DeviceShard.RunPhase r ? java.util.Map.of(LogContext.PHASE, r.phase().word()) : java.util.Map.of(),
                shards.create(spec, ctx.getSelf())), "shard", shardProps);
        ctx.watchWith(shard, new ShardStopped());
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(ShardReady.class, this::onShardReady)
                .onMessage(PhaseDone.class, this::onPhaseDone)
                .onMessage(JobProgress.class, this::onProgress)
                .onMessage(JobLoss.class, this::onLoss)
                .onMessage(StopAfterPhase.class, this::onStop)
                .onMessage(ShardError.class, this::onShardError)
                .onMessage(ShardStopped.class, this::onShardStopped)
                .build();
    }

    private Behavior<Command> onShardReady(ShardReady r) {
        state = r.state();
        if (blocksAtStart < 0) blocksAtStart = state.blocksDone();
        return next();
    }

    private Behavior<Command> onPhaseDone(PhaseDone d) {
        state = d.state();
        if (state.phase() == JobPhase.REPORT) return end(new Finished(jobId));
        return next();
    }

    private Behavior<Command> onShardError(ShardError e) {
        lastError = e.error();
        if (!e.fatal() || ended) return this;
        return end(new Failed(jobId, e.error()));
    }

    /** Decides the next phase from the shard's state, or stops between phases when asked to. */
    private Behavior<Command> next() {
        if (stopReason != null) return end(new Stopped(jobId, stopReason));
        JobPhase p = state.nextPhase();
        org.slf4j.MDC.put(LogContext.PHASE, p.word()); // cleared after this message (Behaviors.withMdc)
        getContext().getLog().info("{}: phase {} (blocks done {}/{})", jobId, p.word(), state.blocksDone(), state.blocksTotal());
        // the phase run now, from what the checkpoint holds: a job resumed after a restart never shows a later one
        onProgress(new JobProgress(p.word(), "", state.blocksDone(), state.blocksTotal(),
                state.phase() == null ? "from the last checkpoint" : ""));
        shard.tell(new DeviceShard.RunPhase(p, getContext().getSelf()));
        return this;
    }

    private Behavior<Command> onProgress(JobProgress p) {
        lastProgress = p;
        return progressed(p, null);
    }

    /** A sandwich step: the latest progress report again, carrying the step's losses. */
    private Behavior<Command> onLoss(JobLoss l) {
        JobProgress p = lastProgress != null ? lastProgress : new JobProgress("sandwich", l.point().block(), 0, 0, "");
        return progressed(p, l.point());
    }

    private Behavior<Command> progressed(JobProgress p, Protocol.LossPoint loss) {
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        int doneHere = state.blocksDone() - Math.max(blocksAtStart, 0);
        int left = state.blocksTotal() - state.blocksDone();
        double eta = doneHere > 0 ? elapsed / doneHere * left : Double.NaN;
        node.tell(new Progressed(jobId, p.phase(), p.block(), p.done(), p.total(), p.detail(), state.blocksDone(),
                state.blocksTotal(), elapsed, eta, loss));
        return this;
    }

    private Behavior<Command> onStop(StopAfterPhase s) {
        stopReason = stopReason == null ? s.reason() : stopReason.and(s.reason());
        return this;
    }

    private Behavior<Command> onShardStopped(ShardStopped s) {
        if (ended) return Behaviors.stopped();
        return end(new Failed(jobId, "the device shard failed more often than its restart limit allows; last error: " + lastError));
    }

    private Behavior<Command> end(Event e) {
        ended = true;
        node.tell(e);
        return Behaviors.stopped();
    }
}
