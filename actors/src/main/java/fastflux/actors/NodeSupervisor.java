package fastflux.actors;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * One per JVM: owns the job queue (persisted in {@link JobRegistry}), runs one job at a time through a
 * {@link PruningCoordinator}, supervises the device shard (restart, reloading from the job's checkpoint) and
 * fans progress out to watchers through per-watcher {@link WatcherRelay}s. Jobs that were running when the
 * daemon died are resumed first when it starts again.
 */
public final class NodeSupervisor extends AbstractBehavior<NodeSupervisor.Command> {
    public sealed interface Command {}

    /** Queues a job on this node. */
    public record Submit(JobSpec spec, ActorRef<Protocol.Reply> replyTo) implements Command, WireMessage {}

    /** Queues a job on the fleet's least loaded node ({@link FleetQuery#place}); a lone node takes it itself. */
    public record Place(JobSpec spec, ActorRef<Protocol.Reply> replyTo) implements Command, WireMessage {}

    /** Every node's jobs ({@link FleetQuery#status}). */
    public record GetFleetStatus(ActorRef<Protocol.FleetStatusReply> replyTo) implements Command, WireMessage {}

    /** {@code jobId} empty: every job. */
    public record GetStatus(String jobId, ActorRef<Protocol.StatusReply> replyTo) implements Command, WireMessage {}

    public record Pause(String jobId, ActorRef<Protocol.Reply> replyTo) implements Command, WireMessage {}

    public record Resume(String jobId, ActorRef<Protocol.Reply> replyTo) implements Command, WireMessage {}

    public record Cancel(String jobId, ActorRef<Protocol.Reply> replyTo) implements Command, WireMessage {}

    public record Watch(String jobId, ActorRef<Protocol.WatchEvent> watcher, ActorRef<Protocol.Reply> replyTo)
            implements Command, WireMessage {}

    /**
     * Measure the importance probe of {@code blocks} for a job of another node ({@link FleetProbes}): answered by
     * this node's {@link ImportanceWorker} when it runs no job of its own, refused as busy otherwise.
     * {@code fingerprint} is the job's model as its node sees it ({@link FleetProbes#fingerprint}).
     */
    public record ProbeBlocks(JobSpec spec, String[] blocks, String fingerprint, ActorRef<Protocol.ProbeReply> replyTo)
            implements Command, WireMessage {}

    /**
     * A job of this node as submitted ({@code spec} null when there is no such job): for the HTTP API in the same JVM,
     * which shows a job's options; not part of the wire vocabulary.
     */
    public record GetSpec(String jobId, ActorRef<SpecReply> replyTo) implements Command, WireMessage {}

    /** The sandwich training the job runs now (or ran last), step by step: {@link Protocol.LiveLosses}. */
    public record GetLiveLosses(String jobId, ActorRef<Protocol.LiveLosses> replyTo) implements Command, WireMessage {}

    public record SpecReply(String jobId, JobSpec spec) implements WireMessage {}

    /**
     * The job's loss history (with the sandwich training running now) and its output files, read by the node that
     * has the job: {@link Protocol.HistoryReply}.
     */
    public record GetHistory(String jobId, ActorRef<Protocol.HistoryReply> replyTo) implements Command, WireMessage {}

    /** Where this node's HTTP API listens (set by the API when it starts): {@link Protocol.ApiAddress}. */
    public record GetApi(ActorRef<Protocol.ApiAddress> replyTo) implements Command, WireMessage {}

    /** From this JVM's HTTP API: its base URL, which {@link GetApi} answers. */
    public record ApiAt(String url) implements Command {}

    /**
     * Which fleet member has job {@code jobId} (this node's own first; {@code node} host:port picks a member, empty
     * for any): answered with {@link Located}. In-process only (the HTTP API asks its own node).
     */
    public record Locate(String jobId, String node, ActorRef<Located> replyTo) implements Command {}

    /**
     * The member that has the job, its host:port and the job as it reported it; or {@code owner} null and why
     * ({@code status} 404: no answering member has it; 409: several do, name one; 503: the named member, or one
     * that might have it, did not answer).
     */
    public record Located(ActorRef<Command> owner, String node, Protocol.JobInfo job, boolean local, int status, String error) {}

    /** Coordinated shutdown: stop the running job after its current phase (its checkpoint written), then reply. */
    public record Shutdown(ActorRef<Done> replyTo) implements Command {}

    private record FromCoordinator(PruningCoordinator.Event event) implements Command {}

    private record RelayStopped(String jobId, ActorRef<WatcherRelay.Command> relay) implements Command {}

    /**
     * What a node needs: where its registry lives (null: in memory only, as for the one job of {@code prune}), how
     * watchers are buffered, how shards are made and restarted.
     */
    public record Settings(Path stateDir, int watcherBuffer, int maxRestarts, Duration restartWindow,
                           String shardDispatcher, DeviceShard.FailureInjector failures, AllowedRoots allowedRoots) {
        /** A node whose jobs may use any path (tests, and the in-process node of a command run by its user). */
        public Settings(Path stateDir, int watcherBuffer, int maxRestarts, Duration restartWindow, String shardDispatcher,
                        DeviceShard.FailureInjector failures) {
            this(stateDir, watcherBuffer, maxRestarts, restartWindow, shardDispatcher, failures, null);
        }

        /**
         * The production shard: supervised by restart (each restart reloads the checkpoint), limited; stopped on the
         * job's own faults ({@link DeviceShard#JOB_FAULTS}), which a restart would only meet again.
         */
        PruningCoordinator.ShardFactory shardFactory() {
            return (spec, coordinator) -> {
                Behavior<DeviceShard.Command> shard = DeviceShard.create(spec, coordinator, failures);
                for (Class<? extends RuntimeException> fault : DeviceShard.JOB_FAULTS) {
                    // the job's error names the fault (the node logs it once); its stack trace would only bury that
                    shard = Behaviors.supervise(shard).onFailure(fault, SupervisorStrategy.stop().withLoggingEnabled(false));
                }
                return Behaviors.supervise(shard)
                        .onFailure(Exception.class, SupervisorStrategy.restart().withLimit(maxRestarts, restartWindow));
            };
        }

        /** The same node with its job queue in memory only: nothing written, nothing resumed from a registry. */
        public Settings inMemory() {
            return new Settings(null, watcherBuffer, maxRestarts, restartWindow, shardDispatcher, failures, null);
        }

        Props shardProps() {
            return shardDispatcher == null ? Props.empty() : DispatcherSelector.fromConfig(shardDispatcher);
        }
    }

    public static Behavior<Command> create(Settings settings) {
        return Behaviors.setup(ctx -> new NodeSupervisor(ctx, settings));
    }

    /** How long a fleet query waits for each node's answer. */
    public static final Duration FLEET_TIMEOUT = Duration.ofSeconds(5);

    private final Settings settings;
    private final JobRegistry registry;
    private final List<JobRegistry.Job> jobs;
    private final Map<String, Protocol.Progress> progress = new HashMap<>();
    private final Map<String, List<ActorRef<WatcherRelay.Command>>> relays = new HashMap<>();
    private final ActorRef<PruningCoordinator.Event> events;
    private String runningId;
    private ActorRef<ProbeBlocks> probeWorker;
    private ActorRef<PruningCoordinator.Command> running;
    private final List<ActorRef<Done>> shutdownWaiters = new ArrayList<>();
    private boolean shuttingDown;
    private long seq;

    /** Per job, its current sandwich's step losses (one sandwich's steps: a few thousand numbers at most). */
    private final Map<String, LiveCurve> curves = new HashMap<>();

    /** One sandwich's step losses as they arrive, in step order. */
    private static final class LiveCurve {
        final String block;
        int steps;
        final List<Double> losses = new ArrayList<>();
        final List<Integer> heldSteps = new ArrayList<>();
        final List<Double> held = new ArrayList<>();

        LiveCurve(String block) {
            this.block = block;
        }

        void add(Protocol.LossPoint p) {
            steps = p.steps();
            if (!Double.isNaN(p.loss())) {
                while (losses.size() < p.step()) losses.add(Double.NaN); // never: the trainer reports every step
                if (losses.size() == p.step()) losses.add(p.loss());
            }
            if (!Double.isNaN(p.heldOutLoss())) {
                heldSteps.add(p.step());
                held.add(p.heldOutLoss());
            }
        }

        Protocol.LiveLosses reply(String jobId) {
            return new Protocol.LiveLosses(jobId, block, steps, losses.stream().mapToDouble(Double::doubleValue).toArray(),
                    heldSteps.stream().mapToInt(Integer::intValue).toArray(), held.stream().mapToDouble(Double::doubleValue).toArray());
        }
    }
    private int coordinators;
    private final DaemonMetrics.Node metrics = DaemonMetrics.node();

    private NodeSupervisor(ActorContext<Command> ctx, Settings settings) {
        super(ctx);
        this.settings = settings;
        this.registry = new JobRegistry(settings.stateDir());
        this.jobs = new ArrayList<>(registry.load());
        metrics.jobs(jobs);
        this.events = ctx.messageAdapter(PruningCoordinator.Event.class, FromCoordinator::new);
        long resumed = jobs.stream().filter(j -> j.state() == JobState.RUNNING).count();
        ctx.getLog().info("node up: {} jobs in {} ({} to resume)", jobs.size(),
                registry.file() == null ? "memory" : registry.file(), resumed);
        ctx.getSystem().receptionist().tell(Receptionist.register(FleetQuery.KEY, ctx.getSelf()));
        startNext();
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Submit.class, this::onSubmit)
                .onMessage(Place.class, this::onPlace)
                .onMessage(GetFleetStatus.class, this::onFleetStatus)
                .onMessage(GetStatus.class, this::onStatus)
                .onMessage(Pause.class, this::onPause)
                .onMessage(Resume.class, this::onResume)
                .onMessage(Cancel.class, this::onCancel)
                .onMessage(Watch.class, this::onWatch)
                .onMessage(GetSpec.class, this::onGetSpec)
                .onMessage(GetLiveLosses.class, this::onGetLiveLosses)
                .onMessage(GetHistory.class, this::onGetHistory)
                .onMessage(GetApi.class, g -> {
                    g.replyTo().tell(new Protocol.ApiAddress(apiUrl));
                    return this;
                })
                .onMessage(ApiAt.class, a -> {
                    apiUrl = a.url();
                    return this;
                })
                .onMessage(Locate.class, l -> {
                    getContext().spawnAnonymous(FleetQuery.locate(getContext().getSelf(), FLEET_TIMEOUT, l.jobId(), l.node(), l.replyTo()));
                    return this;
                })
                .onMessage(ProbeBlocks.class, this::onProbe)
                .onMessage(Shutdown.class, this::onShutdown)
                .onMessage(FromCoordinator.class, this::onEvent)
                .onMessage(RelayStopped.class, this::onRelayStopped)
                .onSignal(org.apache.pekko.actor.typed.PostStop.class, s -> {
                    metrics.close();
                    return this;
                })
                .build();
    }

    private Behavior<Command> onSubmit(Submit s) {
        JobSpec spec;
        try {
            if (s.spec() == null) throw new IllegalArgumentException("no job spec");
            s.spec().validate(settings.allowedRoots());
            for (JobRegistry.Job j : jobs) {
                if (j.active() && RealPaths.same(j.spec.out(), s.spec().out())) {
                    throw new IllegalArgumentException("job " + j.id + " (" + j.state() + ") already writes to " + j.spec.out()
                            + (j.spec.out().equals(s.spec().out()) ? "" : " (" + s.spec().out() + " leads there)"));
                }
            }
            // as `fastflux prune`: a job that cannot fit is refused before any work; one whose sandwich phase fits
            // only in micro-batches runs with them
            spec = JobPlanning.fitted(s.spec());
        } catch (RuntimeException e) {
            getContext().getLog().warn("refused a job: {}", e.getMessage());
            s.replyTo().tell(new Protocol.Reply(false, null, e.getMessage()));
            return this;
        }
        String id = String.format("job-%04d", jobs.stream().mapToInt(j -> Integer.parseInt(j.id.substring(4))).max().orElse(0) + 1);
        jobs.add(new JobRegistry.Job(id, spec, JobState.QUEUED, null));
        registry.save(jobs);
        metrics.jobs(jobs);
        log(id).info("{} queued: {} -> {} ratio {}", id, spec.model(), spec.out(), spec.ratio());
        if (spec != s.spec()) {
            log(id).info("{}: the sandwich phase fits its devices in micro-batches of {} pairs", id,
                    spec.get(fastflux.pruning.PruneOptions.ST_MICRO_BATCH));
        }
        s.replyTo().tell(new Protocol.Reply(true, id, id + " queued" + (runningId != null ? " behind " + runningId : "")));
        startNext();
        return this;
    }

    /** The node's log for a line about job {@code id}: the line carries it as its jobId (cleared after the message). */
    private org.slf4j.Logger log(String id) {
        org.slf4j.MDC.put(fastflux.pruning.LogContext.JOB_ID, id);
        return getContext().getLog();
    }

    private Behavior<Command> onProbe(ProbeBlocks p) {
        if (running != null || shuttingDown) {
            p.replyTo().tell(new Protocol.ProbeReply(FleetQuery.address(getContext(), getContext().getSelf()), p.blocks(), null,
                    "busy: " + (shuttingDown ? "shutting down" : "running " + runningId)));
            return this;
        }
        if (probeWorker == null) {
            probeWorker = getContext().spawn(ImportanceWorker.create(FleetQuery.address(getContext(), getContext().getSelf())),
                    "importance-worker", settings.shardProps());
        }
        probeWorker.tell(p);
        return this;
    }

    private Behavior<Command> onPlace(Place p) {
        if (p.spec() == null) {
            p.replyTo().tell(new Protocol.Reply(false, null, "no job spec"));
            return this;
        }
        getContext().spawnAnonymous(FleetQuery.place(getContext().getSelf(), FLEET_TIMEOUT, p.spec(), p.replyTo()));
        return this;
    }

    private Behavior<Command> onFleetStatus(GetFleetStatus g) {
        getContext().spawnAnonymous(FleetQuery.status(getContext().getSelf(), FLEET_TIMEOUT, g.replyTo()));
        return this;
    }

    private JobRegistry.Job find(String id) {
        for (JobRegistry.Job j : jobs) if (j.id.equals(id)) return j;
        return null;
    }

    private Behavior<Command> onStatus(GetStatus g) {
        List<Protocol.JobInfo> out = new ArrayList<>();
        for (JobRegistry.Job j : jobs) {
            if (g.jobId() != null && !g.jobId().isEmpty() && !g.jobId().equals(j.id)) continue;
            Protocol.Progress p = progress.get(j.id);
            out.add(new Protocol.JobInfo(j.id, j.state(), j.spec.model(), j.spec.out(), p == null ? "" : p.phase(),
                    p == null ? "" : p.block(), p == null ? 0 : p.blocksDone(), p == null ? 0 : p.blocksTotal(),
                    p == null ? "" : p.detail(), p == null ? Double.NaN : p.etaSeconds(), j.error));
        }
        g.replyTo().tell(new Protocol.StatusReply(out.toArray(new Protocol.JobInfo[0])));
        return this;
    }

    private Behavior<Command> onGetSpec(GetSpec g) {
        JobRegistry.Job j = find(g.jobId());
        g.replyTo().tell(new SpecReply(g.jobId(), j == null ? null : j.spec));
        return this;
    }

    /** This JVM's HTTP API, when it runs one. */
    private String apiUrl;

    private Behavior<Command> onGetHistory(GetHistory g) {
        JobRegistry.Job j = find(g.jobId());
        if (j == null) {
            g.replyTo().tell(new Protocol.HistoryReply(g.jobId(), null, "no job " + g.jobId()));
            return this;
        }
        // a few small JSON files of the job's output directory
        java.nio.file.Path out = java.nio.file.Path.of(j.spec.out());
        LiveCurve c = curves.get(j.id);
        com.google.gson.JsonObject o = new com.google.gson.JsonObject();
        o.add("history", JobHistory.withLive(JobHistory.history(j.id, out), c == null ? null : c.reply(j.id)));
        o.add("outputs", JobHistory.outputs(out));
        g.replyTo().tell(new Protocol.HistoryReply(j.id, JobHistory.gzip(o.toString()), null));
        return this;
    }

    private Behavior<Command> onGetLiveLosses(GetLiveLosses g) {
        LiveCurve c = curves.get(g.jobId());
        g.replyTo().tell(c == null ? new Protocol.LiveLosses(g.jobId(), null, 0, new double[0], new int[0], new double[0]) : c.reply(g.jobId()));
        return this;
    }

    private Behavior<Command> onPause(Pause p) {
        JobRegistry.Job j = find(p.jobId());
        Protocol.Reply r;
        if (j == null) r = new Protocol.Reply(false, p.jobId(), "no job " + p.jobId());
        else if (!j.state().canPause()) r = refused(j, JobState.Event.PAUSE);
        else if (j.id.equals(runningId)) {
            running.tell(new PruningCoordinator.StopAfterPhase(PruningCoordinator.StopReason.PAUSED));
            r = new Protocol.Reply(true, j.id, j.id + " pauses after its current phase");
        } else {
            setState(j, JobState.Event.PAUSE, null);
            r = new Protocol.Reply(true, j.id, j.id + " paused");
        }
        p.replyTo().tell(r);
        return this;
    }

    private Behavior<Command> onResume(Resume m) {
        JobRegistry.Job j = find(m.jobId());
        Protocol.Reply r;
        if (j == null) r = new Protocol.Reply(false, m.jobId(), "no job " + m.jobId());
        else if (!j.state().canResume()) r = refused(j, JobState.Event.RESUME);
        else {
            setState(j, JobState.Event.RESUME, null);
            r = new Protocol.Reply(true, j.id, j.id + " resumes from its last checkpoint" + (runningId != null ? " after " + runningId : ""));
            startNext();
        }
        m.replyTo().tell(r);
        return this;
    }

    private Behavior<Command> onCancel(Cancel c) {
        JobRegistry.Job j = find(c.jobId());
        Protocol.Reply r;
        if (j == null) r = new Protocol.Reply(false, c.jobId(), "no job " + c.jobId());
        else if (!j.state().canCancel()) r = refused(j, JobState.Event.CANCEL);
        else if (j.id.equals(runningId)) {
            running.tell(new PruningCoordinator.StopAfterPhase(PruningCoordinator.StopReason.CANCELLED));
            r = new Protocol.Reply(true, j.id, j.id + " is cancelled after its current phase");
        } else {
            setState(j, JobState.Event.CANCEL, null);
            r = new Protocol.Reply(true, j.id, j.id + " cancelled");
        }
        c.replyTo().tell(r);
        return this;
    }

    /** A command its job's state does not allow, e.g. resuming a done job: "job-0001 is done: only a paused ...". */
    private static Protocol.Reply refused(JobRegistry.Job j, JobState.Event e) {
        return new Protocol.Reply(false, j.id, j.id + " is " + j.state() + ": " + JobState.refusal(e));
    }

    private Behavior<Command> onWatch(Watch w) {
        JobRegistry.Job j = find(w.jobId());
        if (j == null) {
            w.replyTo().tell(new Protocol.Reply(false, w.jobId(), "no job " + w.jobId()));
            return this;
        }
        ActorRef<WatcherRelay.Command> relay = getContext().spawnAnonymous(
                WatcherRelay.create(w.watcher(), settings.watcherBuffer(), snapshot(j)));
        getContext().watchWith(relay, new RelayStopped(j.id, relay));
        relays.computeIfAbsent(j.id, k -> new ArrayList<>()).add(relay);
        w.replyTo().tell(new Protocol.Reply(true, j.id, "watching " + j.id));
        return this;
    }

    private Protocol.Progress snapshot(JobRegistry.Job j) {
        Protocol.Progress p = progress.get(j.id);
        if (p == null) return new Protocol.Progress(j.id, j.state(), j.state() == JobState.RUNNING ? Protocol.Progress.STARTING : "", "", 0, 0,
                j.error == null ? "" : j.error, 0, 0, 0, Double.NaN, seq);
        return new Protocol.Progress(j.id, j.state(), p.phase(), p.block(), p.done(), p.total(),
                j.error != null ? j.error : p.detail(), p.blocksDone(), p.blocksTotal(), p.elapsedSeconds(), p.etaSeconds(), p.seq(),
                p.loss());
    }

    private Behavior<Command> onRelayStopped(RelayStopped r) {
        List<ActorRef<WatcherRelay.Command>> l = relays.get(r.jobId());
        if (l != null) l.remove(r.relay());
        return this;
    }

    private Behavior<Command> onShutdown(Shutdown s) {
        shuttingDown = true;
        if (running == null) s.replyTo().tell(Done.getInstance());
        else {
            shutdownWaiters.add(s.replyTo());
            running.tell(new PruningCoordinator.StopAfterPhase(PruningCoordinator.StopReason.SHUTDOWN));
        }
        return this;
    }

    private Behavior<Command> onEvent(FromCoordinator f) {
        PruningCoordinator.Event e = f.event();
        JobRegistry.Job j = find(e.jobId());
        if (j == null) return this;
        if (e instanceof PruningCoordinator.Progressed p) {
            progress.put(j.id, new Protocol.Progress(j.id, j.state(), p.phase(), p.block(), p.done(), p.total(), p.detail(),
                    p.blocksDone(), p.blocksTotal(), p.elapsedSeconds(), p.etaSeconds(), ++seq, p.loss()));
            if (p.loss() != null) {
                LiveCurve c = curves.get(j.id);
                // a new sandwich (the next block, or this block again after a restart from its checkpoint)
                if (c == null || !c.block.equals(p.loss().block()) || (p.loss().step() == 0 && !c.losses.isEmpty())) {
                    c = new LiveCurve(p.loss().block());
                    curves.put(j.id, c);
                }
                c.add(p.loss());
            }
            metrics.progress(progress.get(j.id));
            publish(j);
            return this;
        } else if (e instanceof PruningCoordinator.Finished) {
            log(j.id).info("{} done: {}", j.id, j.spec.out());
            setState(j, JobState.Event.FINISH, null);
        } else if (e instanceof PruningCoordinator.Stopped st) {
            log(j.id).info("{} stopped between phases: {}", j.id, st.reason());
            switch (st.reason()) {
                case PAUSED -> setState(j, JobState.Event.PAUSE, null);
                case CANCELLED -> setState(j, JobState.Event.CANCEL, null);
                // the job stays running in the registry, so the next start resumes it first
                case SHUTDOWN -> { }
            }
        } else if (e instanceof PruningCoordinator.Failed fail) {
            log(j.id).error("{} failed: {}", j.id, fail.error());
            setState(j, JobState.Event.FAIL, fail.error());
        }
        runningId = null;
        running = null;
        // setState has published every other ending (a terminal one ends the relays: publishing again would
        // only make dead letters); a shutdown leaves the job running, so its watchers get the last snapshot here.
        if (e instanceof PruningCoordinator.Stopped st && st.reason() == PruningCoordinator.StopReason.SHUTDOWN) publish(j);
        if (shuttingDown) {
            shutdownWaiters.forEach(w -> w.tell(Done.getInstance()));
            shutdownWaiters.clear();
            return this;
        }
        startNext();
        return this;
    }

    private void publish(JobRegistry.Job j) {
        List<ActorRef<WatcherRelay.Command>> l = relays.get(j.id);
        if (l == null || l.isEmpty()) return;
        Protocol.Progress p = snapshot(j);
        for (ActorRef<WatcherRelay.Command> r : l) r.tell(new WatcherRelay.Update(p));
    }

    /** Moves {@code j} on by {@code e} (refused by an exception when its state does not allow it), saves, publishes. */
    private void setState(JobRegistry.Job j, JobState.Event e, String error) {
        j.apply(e, error);
        if (j.state().isTerminal()) curves.remove(j.id); // its checkpoint or report holds what it trained
        registry.save(jobs);
        metrics.jobs(jobs);
        publish(j);
    }

    /** Starts the next job if the device is free: an interrupted running one first, then the queue in order. */
    private void startNext() {
        if (running != null || shuttingDown) return;
        JobRegistry.Job next = jobs.stream().filter(j -> j.state() == JobState.RUNNING).findFirst()
                .orElseGet(() -> jobs.stream().filter(j -> j.state() == JobState.QUEUED).findFirst().orElse(null));
        if (next == null) return;
        if (next.state() == JobState.QUEUED) setState(next, JobState.Event.START, null);
        log(next.id).info("{} starting: {} -> {}", next.id, next.spec.model(), next.spec.out());
        progress.remove(next.id); // what it showed before a stop is not where it resumes
        runningId = next.id;
        running = getContext().spawn(PruningCoordinator.create(next.id, next.spec, events, settings.shardFactory(),
                settings.shardProps()), next.id + "-" + (++coordinators));
    }
}
