package fastflux.streams;

import ai.djl.Device;
import fastflux.model.BlockId;
import fastflux.model.FluxModel;
import fastflux.pruning.Calibration;
import fastflux.pruning.CalibrationSource;
import fastflux.sampling.Schedule;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.Scheduler;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * A model's blocks split into K contiguous ranges, each run by a {@link BlockShard} actor on its own pinned
 * dispatcher; a transformer call enters at the first shard (which also embeds the inputs) and its hidden state
 * passes from shard to shard in block order as plain data, the last shard ending with the final layer.
 * {@link #denoise} runs one calibration batch's whole guided trajectory this way, step after step, and returns
 * the tapped blocks' activations.
 *
 * <p>Every operation is the one {@link Calibration#run} makes, in the same order and precision (the guidance
 * combination and the Euler update are IEEE float32 in Java, as libtorch does them elementwise), so a split
 * model gives the activations of the unsplit one bit for bit, whatever K.
 */
public final class ShardChain implements AutoCloseable {
    /** The dispatcher each shard actor runs on (a PinnedDispatcher in this module's reference.conf). */
    public static final String DISPATCHER = "fastflux.streams.shard-dispatcher";

    /** How long one message may take before the chain gives up on it: a guard against a lost reply, not a budget. */
    static final Duration ASK_TIMEOUT = Duration.ofHours(1);

    private static final AtomicLong CHAINS = new AtomicLong();

    /**
     * The activations of one tapped block at one sampler step: inputs and outputs, (img, txt) for a double-stream
     * block, (joint) for a single-stream one, with the step's conditioning vector and position ids (what a
     * sandwich's training pairs need besides the states); the conditional rows only under classifier-free guidance.
     */
    public record Tap(int step, BlockId block, List<PlainArray> in, List<PlainArray> out, PlainArray vec, PlainArray ids) {
        public long bytes() {
            long n = vec.bytes() + ids.bytes();
            for (PlainArray a : in) n += a.bytes();
            for (PlainArray a : out) n += a.bytes();
            return n;
        }
    }

    /** One batch's trajectory, reduced to what the sink folds: its items, timesteps and taps in call order. */
    public record TappedBatch(int index, Calibration.Items items, float[] timesteps, List<Tap> taps) {
        public long bytes() {
            long n = 0;
            for (Tap t : taps) n += t.bytes();
            return n;
        }
    }

    private final FluxModel model;
    private final ActorSystem system;
    private final Scheduler scheduler;
    private final List<ActorRef<BlockShard.Command>> shards = new ArrayList<>();
    private final List<int[]> ranges = new ArrayList<>();

    private ShardChain(FluxModel model, List<Device> devices, ActorSystem system, BlockShard.Placement placement) {
        int n = model.config().blockCount();
        int k = devices.size();
        if (k < 1 || k > n) throw new IllegalArgumentException("shards must be in 1.." + n + ", got " + k);
        this.model = model;
        this.system = system;
        this.scheduler = Adapter.toTyped(system.scheduler());
        long chain = CHAINS.incrementAndGet();
        Props props = DispatcherSelector.fromConfig(DISPATCHER);
        java.util.Map<String, String> logContext = fastflux.pruning.LogContext.current(); // the job's, on the shards' log lines
        ActorRef<BlockShard.Command> next = null;
        // a model split over these devices keeps its ranges (its weights already live there, nothing is copied);
        // otherwise contiguous ranges whose sizes differ by at most one
        fastflux.model.BlockPlacement placed = model.placement();
        boolean own = placed != null && placed.devices().equals(devices)
                && placed.ranges().stream().allMatch(r -> r[1] >= r[0]);
        for (int i = k - 1; i >= 0; i--) { // the last first, so that each shard knows the one after it
            int from = own ? placed.range(i)[0] : i * n / k;
            int to = own ? placed.range(i)[1] : (i + 1) * n / k - 1;
            // system actors (under /system): a typed system with a guardian of its own (the daemon's node) takes no
            // top-level actors from outside, and these belong to the pass, not to the guardian's tree
            BlockShard.Placement place = placement;
            ActorRef<BlockShard.Command> after = next;
            int index = i;
            next = Adapter.toTyped(((ExtendedActorSystem) system).systemActorOf(
                    Adapter.props(() -> org.apache.pekko.actor.typed.javadsl.Behaviors.withMdc(BlockShard.Command.class, logContext,
                            BlockShard.create(index, model, from, to, devices.get(index), after, place)), props),
                    "fastflux-shard-" + chain + "-" + i));
            shards.add(0, next);
            ranges.add(0, new int[] {from, to});
        }
    }

    /** {@code model}'s blocks split into {@code k} contiguous shards on {@code device}, actors of {@code system}. */
    public static ShardChain split(FluxModel model, int k, Device device, ActorSystem system) {
        return split(model, java.util.Collections.nCopies(k, device), system);
    }

    /** {@code model}'s blocks split into one contiguous shard per device, in block order, actors of {@code system}. */
    public static ShardChain split(FluxModel model, List<Device> devices, ActorSystem system) {
        return new ShardChain(model, devices, system, BlockShard.Placement.ON_DEVICE);
    }

    /** As {@link #split}, every shard running on its own copy of its range's weights, even on the model's device. */
    static ShardChain splitWithCopies(FluxModel model, List<Device> devices, ActorSystem system) {
        return new ShardChain(model, devices, system, BlockShard.Placement.ALWAYS_COPY);
    }

    public FluxModel model() {
        return model;
    }

    /** Each shard's forward positions, [from, to] inclusive. */
    public List<int[]> ranges() {
        return ranges;
    }

    /**
     * Runs the guided trajectory of batch {@code index} of {@code calibration} (items {@code items}) through the
     * chain and completes with the activations of the {@code tapped} blocks at every step.
     */
    public CompletableFuture<TappedBatch> denoise(Calibration calibration, int index, Calibration.Items items,
                                                  Set<BlockId> tapped) {
        if (calibration.model() != model) throw new IllegalArgumentException("the calibration runs another model");
        CalibrationSource source = calibration.source();
        Calibration.Options o = calibration.options();
        boolean cfg = calibration.classifierFree();
        int b = items.prompts().length;
        float[] schedule = Schedule.timesteps(o.steps(), source.latentTokens(), source.shiftSchedule());
        ActorRef<BlockShard.Command> head = shards.get(0);
        CompletableFuture<BlockShard.Trajectory> t = ask(head,
                r -> new BlockShard.Start(source, items, cfg, o.guidance(), r));
        for (int i = 0; i + 1 < schedule.length; i++) {
            BlockShard.Call call = new BlockShard.Call(i, schedule[i], b, cfg, o.guidance(), tapped);
            float dt = schedule[i + 1] - schedule[i];
            t = t.thenCompose(tr -> this.<BlockShard.Hop>ask(head, r -> new BlockShard.Forward(tr, call, r))
                    .thenApply(hop -> euler(tr, hop, cfg, o.guidance(), dt)));
        }
        return t.thenApply(tr -> new TappedBatch(index, items, schedule, tr.taps()));
    }

    /** Asks a shard; its error reply fails the future with the shard's own exception. */
    private <T> CompletableFuture<T> ask(ActorRef<BlockShard.Command> shard,
                                         Function<ActorRef<BlockShard.Reply<T>>, BlockShard.Command> message) {
        return AskPattern.<BlockShard.Command, BlockShard.Reply<T>>ask(shard, message::apply, ASK_TIMEOUT, scheduler)
                .toCompletableFuture()
                .thenApply(r -> {
                    if (r.error() != null) throw r.error();
                    return r.value();
                });
    }

    /**
     * Guidance and the Euler update in float32, operation for operation as {@link Calibration} has libtorch do them:
     * {@code v = v(∅) + (v(c) − v(∅))·g}, {@code x ← x + v·(t_prev − t_curr)}.
     */
    private static BlockShard.Trajectory euler(BlockShard.Trajectory tr, BlockShard.Hop hop, boolean cfg, float g, float dt) {
        float[] x = tr.x().data();
        float[] v = hop.velocity().data(); // [rows, L_img, C], conditional rows first
        int half = x.length;
        float[] next = new float[half];
        for (int i = 0; i < half; i++) {
            float vi = cfg ? v[half + i] + (v[i] - v[half + i]) * g : v[i];
            next[i] = x[i] + vi * dt;
        }
        return new BlockShard.Trajectory(new PlainArray(next, tr.x().shape(), tr.x().dtype()), tr.txt(), tr.y(),
                tr.txtIds(), tr.imgIds(), hop.taps());
    }

    /** Stops every shard and waits until each has closed its manager. */
    @Override
    public void close() {
        List<CompletableFuture<?>> stopped = new ArrayList<>();
        for (ActorRef<BlockShard.Command> s : shards) {
            stopped.add(AskPattern.<BlockShard.Command, org.apache.pekko.Done>ask(s, BlockShard.Stop::new,
                    Duration.ofMinutes(10), scheduler).toCompletableFuture());
        }
        try {
            CompletableFuture.allOf(stopped.toArray(CompletableFuture[]::new)).get(10, TimeUnit.MINUTES);
        } catch (Exception e) {
            throw new IllegalStateException("the shards of " + this + " did not stop", e instanceof CompletionException c ? c.getCause() : e);
        }
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("ShardChain[");
        for (int[] r : ranges) sb.append(sb.length() > 11 ? ", " : "").append("blocks ").append(r[0]).append("..").append(r[1]);
        return sb.append(']').toString();
    }
}
