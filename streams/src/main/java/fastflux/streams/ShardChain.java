package fastflux.streams;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.model.BlockId;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.HiddenState;
import fastflux.pruning.Calibration;
import fastflux.pruning.CalibrationSource;
import fastflux.sampling.Schedule;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * A model's blocks split into K contiguous ranges, each run by a {@link BlockShard}; a transformer call enters
 * at the first shard (which also embeds the inputs) and its hidden state passes from shard to shard in block
 * order as plain data, the last shard ending with the final layer. {@link #denoise} runs one calibration batch's
 * whole guided trajectory this way, step after step, and returns the tapped blocks' activations.
 *
 * <p>Every operation is the one {@link Calibration#run} makes, in the same order and precision (the guidance
 * combination and the Euler update are IEEE float32 in Java, as libtorch does them elementwise), so a split
 * model gives the activations of the unsplit one bit for bit, whatever K.
 */
public final class ShardChain implements AutoCloseable {
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

    /** A trajectory between steps: the latent and the (guidance-doubled) conditioning, all plain. */
    private record Trajectory(PlainArray x, PlainArray txt, PlainArray y, PlainArray txtIds, PlainArray imgIds,
                              List<Tap> taps) {}

    private final FluxModel model;
    private final List<BlockShard> shards = new ArrayList<>();

    private ShardChain(FluxModel model, int k, Device device) {
        int n = model.config().blockCount();
        if (k < 1 || k > n) throw new IllegalArgumentException("shards must be in 1.." + n + ", got " + k);
        this.model = model;
        try {
            for (int i = 0; i < k; i++) {
                // contiguous ranges, sizes differing by at most one
                shards.add(new BlockShard(i, model, i * n / k, (i + 1) * n / k - 1, device));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** {@code model}'s blocks split into {@code k} contiguous shards on {@code device}. */
    public static ShardChain split(FluxModel model, int k, Device device) {
        return new ShardChain(model, k, device);
    }

    public FluxModel model() {
        return model;
    }

    /** Each shard's forward positions, [from, to] inclusive. */
    public List<int[]> ranges() {
        return shards.stream().map(s -> new int[] {s.from(), s.to()}).toList();
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
        BlockShard head = shards.get(0);
        CompletableFuture<Trajectory> t = head.submit(scope -> start(source, items, cfg, o.guidance(), scope));
        for (int i = 0; i + 1 < schedule.length; i++) {
            int step = i;
            float tCurr = schedule[i];
            float tPrev = schedule[i + 1];
            t = t.thenCompose(tr -> velocity(tr, step, tCurr, b, cfg, o.guidance(), tapped)
                    .thenApply(hop -> euler(tr, hop, cfg, o.guidance(), tPrev - tCurr)));
        }
        return t.thenApply(tr -> new TappedBatch(index, items, schedule, tr.taps()));
    }

    /** The batch's noise and conditioning, as {@link Calibration} makes them (unconditional half second). */
    private static Trajectory start(CalibrationSource source, Calibration.Items items, boolean cfg, float guidance,
                                    NDManager scope) {
        int b = items.prompts().length;
        CalibrationSource.Conditioning c = source.condition(items.prompts(), scope);
        if (cfg) {
            CalibrationSource.Conditioning un = source.unconditional(b, scope);
            if (un == null) {
                throw new IllegalArgumentException("guidance " + guidance + " needs classifier-free guidance, but "
                        + source.describe() + " has no unconditional embeddings (neg_txt, neg_y); use guidance 1");
            }
            c = new CalibrationSource.Conditioning(c.txt().concat(un.txt(), 0), c.y().concat(un.y(), 0),
                    c.txtIds().concat(un.txtIds(), 0), c.imgIds().concat(un.imgIds(), 0));
        }
        NDArray x = Calibration.noise(items.noiseSeeds(), source.latentTokens(), source.latentChannels(), scope);
        return new Trajectory(PlainArray.of(x), PlainArray.of(c.txt()), PlainArray.of(c.y()), PlainArray.of(c.txtIds()),
                PlainArray.of(c.imgIds()), List.of());
    }

    /** One transformer call through every shard in block order; completes with the last shard's velocity. */
    private CompletableFuture<BlockShard.Hop> velocity(Trajectory tr, int step, float t, int b, boolean cfg,
                                                       float guidance, Set<BlockId> tapped) {
        boolean embed = model.config().guidanceEmbed();
        BlockShard head = shards.get(0);
        CompletableFuture<BlockShard.Hop> hop = head.submit(scope -> {
            NDArray x = tr.x().toNd(scope);
            NDArray xin = cfg ? x.concat(x, 0) : x;
            long rows = xin.getShape().get(0);
            NDArray txtIds = tr.txtIds().toNd(scope);
            NDArray imgIds = tr.imgIds().toNd(scope);
            FluxInputs in = new FluxInputs(xin, imgIds, tr.txt().toNd(scope), txtIds, scope.full(new Shape(rows), t),
                    tr.y().toNd(scope), embed ? scope.full(new Shape(rows), guidance) : null);
            HiddenState h = model.embed(in);
            long lt = h.streams().txt().getShape().get(1);
            return head.run(h, model.vec(in), txtIds.concat(imgIds, 1), lt, step, b, cfg, tapped, tr.taps());
        });
        for (BlockShard s : shards.subList(1, shards.size())) {
            hop = hop.thenCompose(h -> s.submit(scope -> s.pass(h, step, b, cfg, tapped, scope)));
        }
        return hop;
    }

    /**
     * Guidance and the Euler update in float32, operation for operation as {@link Calibration} has libtorch do them:
     * {@code v = v(∅) + (v(c) − v(∅))·g}, {@code x ← x + v·(t_prev − t_curr)}.
     */
    private static Trajectory euler(Trajectory tr, BlockShard.Hop hop, boolean cfg, float g, float dt) {
        float[] x = tr.x().data();
        float[] v = hop.velocity().data(); // [rows, L_img, C], conditional rows first
        int half = x.length;
        float[] next = new float[half];
        for (int i = 0; i < half; i++) {
            float vi = cfg ? v[half + i] + (v[i] - v[half + i]) * g : v[i];
            next[i] = x[i] + vi * dt;
        }
        return new Trajectory(new PlainArray(next, tr.x().shape(), tr.x().dtype()), tr.txt(), tr.y(), tr.txtIds(),
                tr.imgIds(), hop.taps());
    }

    @Override
    public void close() {
        for (BlockShard s : shards) s.close();
    }

    @Override
    public String toString() {
        return "ShardChain" + shards;
    }
}
