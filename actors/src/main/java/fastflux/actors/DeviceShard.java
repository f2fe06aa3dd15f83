package fastflux.actors;

import fastflux.pruning.JobPhase;

import ai.djl.ndarray.NDManager;
import fastflux.checkpoints.DiskFullException;
import fastflux.model.io.SafetensorsException;
import fastflux.pruning.NotPositiveDefiniteException;
import fastflux.pruning.JobOptions;
import fastflux.pruning.PruneJob;
import fastflux.pruning.PruneState;
import fastflux.streams.CalibrationPipeline;
import fastflux.streams.SandwichTrainerActor;
import java.nio.file.Path;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.stream.Materializer;

/**
 * The worker that owns one device's native resources: the NDManager and the model of the job it runs. It runs
 * on a pinned dispatcher (one thread, because DJL's grad mode is per thread), executes one phase per message
 * and answers with plain numbers. On every start, first or after a restart by its supervisor, it rebuilds the
 * job from the newest good checkpoint ({@link PruneJob#begin()}) and says where that left it. BRLL's calibration
 * runs through the backpressured streams pipeline ({@link CalibrationPipeline}) unless configured off, and with it
 * the sandwich trainer runs as an actor fed by that stream ({@link SandwichTrainerActor}).
 */
public final class DeviceShard extends AbstractBehavior<DeviceShard.Command> {
    public sealed interface Command {}

    /** Runs one phase; answered with {@link PruningCoordinator.PhaseDone}. */
    public record RunPhase(JobPhase phase, ActorRef<PruningCoordinator.Command> replyTo) implements Command {}

    /** A test hook: called before each phase and on each progress report; throwing there crashes the shard. */
    public interface FailureInjector {
        FailureInjector NONE = (phase, completed) -> {};

        void check(String phase, int completedBlocks);

        /**
         * A test hook on each sandwich training step (after its loss is reported), on the thread that trains, which
         * may be the streaming trainer's: it may hold that thread, and must not throw.
         */
        default void sandwichStep(String block, int step) {}
    }

    public static Behavior<Command> create(JobSpec spec, ActorRef<PruningCoordinator.Command> coordinator,
                                           FailureInjector failures) {
        return Behaviors.setup(ctx -> new DeviceShard(ctx, spec, coordinator, failures));
    }

    private final JobSpec spec;
    private final ActorRef<PruningCoordinator.Command> coordinator;
    private final FailureInjector failures;
    private final NDManager manager;
    private final PruneJob job;
    private final PruneJob.Quality quality;

    private DeviceShard(ActorContext<Command> ctx, JobSpec spec, ActorRef<PruningCoordinator.Command> coordinator,
                        FailureInjector failures) {
        super(ctx);
        this.spec = spec;
        this.coordinator = coordinator;
        this.failures = failures;
        org.slf4j.MDC.put(fastflux.pruning.LogContext.PHASE, "start"); // loading the checkpoint; the job id is the coordinator's MDC
        gradModeOffOnThisThread();
        // the job's model in its compute dtype, split over --devices (one range of blocks per device; cpu: whole)
        NDManager m = NDManager.newBaseManager(spec.devices().list().get(0));
        try {
            PruneJob.Listener listener = new PruneJob.Listener() {
                @Override
                public void progress(String phase, String block, long done, long total, String detail) {
                    failures.check(phase, completed());
                    coordinator.tell(new PruningCoordinator.JobProgress(phase, block, done, total, detail));
                }

                /** May run on the streaming trainer's thread: only a message, no failure injection there. */
                @Override
                public void sandwichStep(String block, int step, int steps, double loss, double heldOutLoss) {
                    coordinator.tell(new PruningCoordinator.JobLoss(new Protocol.LossPoint(block, step, steps, loss, heldOutLoss)));
                    if (!Double.isNaN(loss)) failures.sandwichStep(block, step);
                }
            };
            this.quality = spec.quality();
            this.job = new PruneJob(Path.of(spec.model()), Path.of(spec.out()), spec.options(), spec.worldSettings(), listener, m,
                    spec.computeDtype(), spec.devices().list());
            CalibrationPipeline pipeline = calibrationPipeline(ctx, spec.devices());
            if (pipeline != null) {
                job.calibrationRunner(pipeline);
                job.sandwichFeed(SandwichTrainerActor.feed(org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(ctx.getSystem())));
            }
            if (ctx.getSystem().settings().config().getBoolean("fastflux.daemon.share-importance")) {
                job.probeRunner(new FleetProbes(ctx.getSystem(), spec, NodeSupervisor.FLEET_TIMEOUT, java.time.Duration.ZERO));
            }
            if (spec.reuseFrom() != null) job.reuseFrom(Path.of(spec.reuseFrom()), spec.reuseAtRatio());
            if (spec.calibFile() != null) job.calibrationFrom(Path.of(spec.calibFile()));
            job.exportChoices(new fastflux.world.World.ExportChoices(spec.get(JobOptions.COPY), spec.get(JobOptions.SHARD_SIZE)));
            job.begin();
        } catch (RuntimeException e) {
            m.close();
            coordinator.tell(error(e, e.toString()));
            throw e;
        }
        this.manager = m;
        ctx.getLog().info("shard for {} ready: {}/{} blocks done, order {}", spec.out(), completed(), job.state().target(),
                job.state().order() == null ? "not yet ranked" : "known");
        coordinator.tell(new PruningCoordinator.ShardReady(ready(null)));
    }

    /**
     * The streams pipeline BRLL's calibration runs through ({@code fastflux.daemon.calibration}), or null for the
     * in-process loop. The shard's thread waits for it while the chain's shards and the sink run on theirs.
     */
    private static CalibrationPipeline calibrationPipeline(ActorContext<Command> ctx, fastflux.pruning.plan.Devices jobDevices) {
        com.typesafe.config.Config c = ctx.getSystem().settings().config().getConfig("fastflux.daemon.calibration");
        if (!c.getBoolean("pipeline")) return null;
        if (jobDevices.gpu()) { // the job's GPUs, one contiguous block range each
            return new CalibrationPipeline(Materializer.matFromSystem(ctx.getSystem()),
                    new CalibrationPipeline.Options(jobDevices.size(), c.getInt("parallelism"), c.getInt("buffer")), jobDevices.list());
        }
        java.util.List<String> names = c.getStringList("devices");
        int shards = names.isEmpty() ? c.getInt("shards") : names.size();
        java.util.List<ai.djl.Device> devices = names.isEmpty()
                ? java.util.Collections.nCopies(shards, ai.djl.Device.cpu())
                : names.stream().map(ai.djl.Device::fromName).toList();
        return new CalibrationPipeline(Materializer.matFromSystem(ctx.getSystem()),
                new CalibrationPipeline.Options(shards, c.getInt("parallelism"), c.getInt("buffer")), devices);
    }

    /**
     * libtorch's grad mode is thread-local and on by default in a new thread; DJL turns it off only in the thread
     * that started the engine (a GradientCollector restores the mode it found), and the trainer's in-place
     * optimizer steps need it off.
     */
    private static void gradModeOffOnThisThread() {
        ai.djl.engine.Engine.getInstance();
        ai.djl.pytorch.jni.JniUtils.setGradMode(false);
    }

    /**
     * The job's own faults, which a restart from the checkpoint would only meet again: an invalid option or input
     * (IllegalArgumentException: a bad calibration file, a run with other options in {@code out}, nothing to reuse),
     * a corrupt safetensors file, a least-squares system that is not positive definite (the same data give the
     * same matrix), a full disk (it stays full until someone frees space; the last checkpoint is intact, so the
     * job resumes when it is resubmitted). They end the job with their own message; anything else restarts the shard.
     */
    static final List<Class<? extends RuntimeException>> JOB_FAULTS = List.of(IllegalArgumentException.class,
            SafetensorsException.class, NotPositiveDefiniteException.class, DiskFullException.class);

    private static PruningCoordinator.ShardError error(RuntimeException e, String text) {
        boolean fatal = JOB_FAULTS.stream().anyMatch(c -> c.isInstance(e));
        return new PruningCoordinator.ShardError(fatal ? e.getMessage() : text, fatal);
    }

    private int completed() {
        PruneState s = job == null ? null : job.state();
        return s == null ? 0 : s.completed().size();
    }

    private PruningCoordinator.ShardState ready(JobPhase phase) {
        JobPhase.Position p = job.position(phase, quality);
        return new PruningCoordinator.ShardState(phase, p.ordered(), p.blocksDone(), p.fitted(), p.blocksTotal(), p.measureBase());
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(RunPhase.class, this::onRunPhase)
                .onSignal(PreRestart.class, s -> close())
                .onSignal(PostStop.class, s -> close())
                .build();
    }

    private Behavior<Command> onRunPhase(RunPhase r) {
        failures.check(r.phase().word(), completed());
        long t0 = System.nanoTime();
        try {
            job.run(r.phase(), quality);
        } catch (RuntimeException e) {
            coordinator.tell(error(e, r.phase().word() + ": " + e));
            throw e;
        }
        getContext().getLog().info("{} done in {} s ({}/{} blocks)", r.phase().word(),
                String.format(java.util.Locale.ROOT, "%.1f", (System.nanoTime() - t0) / 1e9), completed(), job.state().target());
        r.replyTo().tell(new PruningCoordinator.PhaseDone(ready(r.phase())));
        return this;
    }

    private Behavior<Command> close() {
        manager.close();
        return this;
    }
}
