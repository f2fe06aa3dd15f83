package fastflux.streams;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.model.BlockId;
import fastflux.model.BlockTap;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.HiddenState;
import fastflux.model.Param;
import fastflux.model.Rope;
import fastflux.model.Streams;
import fastflux.pruning.Calibration;
import fastflux.pruning.CalibrationSource;
import fastflux.sampling.EulerSampler;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One shard of a model split over devices, as an actor: it runs on a pinned dispatcher (one thread of its own:
 * libtorch's grad mode is per thread, and native work stays off the stream's dispatcher), owns an NDManager on its
 * device and runs the blocks at forward positions {@code from..to}. A transformer call enters at the first shard,
 * which embeds the inputs; each shard runs its blocks and tells the next one the hidden state, in block order; the
 * last one ends with the final layer and replies the velocity to whoever asked the first. Every message carries
 * plain data ({@link PlainArray}), never an NDArray: each message is worked in a sub-manager closed when it ends,
 * so no array outlives a message or crosses to another shard.
 *
 * <p>The shards run the blocks of one {@link FluxModel}, read-only during a pass. Each shard owns its range's
 * weights on its device while it runs: a parameter that lives on another device is copied into the shard's
 * manager and swapped in, and swapped back when the shard stops ({@link Placement}). A model split over the chain's
 * devices ({@link fastflux.model.BlockPlacement}) gives each shard its own range, already on its device, so nothing is
 * copied. On one device (this CPU machine) nothing needs copying and the shards share the model's arrays; tests force the copy to exercise the
 * path, but a transfer between real devices has not run here (no GPU).
 */
final class BlockShard {
    /** A hidden state between two shards, with what the next shard needs to continue the forward. */
    record Hop(PlainArray img, PlainArray txt, PlainArray joint, PlainArray vec, PlainArray ids, long txtTokens,
               List<ShardChain.Tap> taps, PlainArray velocity) {}

    /** A trajectory between steps: the latent and the (guidance-doubled) conditioning, all plain. */
    record Trajectory(PlainArray x, PlainArray txt, PlainArray y, PlainArray txtIds, PlainArray imgIds,
                      List<ShardChain.Tap> taps) {}

    /**
     * One transformer call of a batch: sampler step and timestep, the conditional rows (the rows tapped under
     * classifier-free guidance), the guidance scale and the blocks whose activations travel with the hidden state.
     */
    record Call(int step, float t, int rows, boolean cfg, float guidance, Set<BlockId> tapped) {}

    /** A value, or the error that prevented it. */
    record Reply<T>(T value, RuntimeException error) {
        static <T> Reply<T> of(T value) {
            return new Reply<>(value, null);
        }
    }

    sealed interface Command {}

    /** First shard: a batch's noise and conditioning, as {@link Calibration} makes them. */
    record Start(CalibrationSource source, Calibration.Items items, boolean cfg, float guidance,
                 ActorRef<Reply<Trajectory>> replyTo) implements Command {}

    /** First shard: one transformer call on {@code trajectory}; the last shard replies with the velocity. */
    record Forward(Trajectory trajectory, Call call, ActorRef<Reply<Hop>> replyTo) implements Command {}

    /** A later shard: continues a call from the previous shard's hidden state. */
    record Continue(Hop hop, Call call, ActorRef<Reply<Hop>> replyTo) implements Command {}

    /** Closes the shard's manager and stops; answered when done, so arrays are freed before the chain returns. */
    record Stop(ActorRef<Done> replyTo) implements Command {}

    /**
     * The shard at positions {@code from..to} of {@code model}; {@code next} is the shard after it, or null for
     * the last one.
     */
    static Behavior<Command> create(int index, FluxModel model, int from, int to, Device device, ActorRef<Command> next,
                                    Placement placement) {
        return Behaviors.setup(ctx -> {
            NDManager manager = NDManager.newBaseManager(device);
            Map<Param, NDArray> originals = place(rangeParams(model, from, to), manager, placement);
            BlockShard shard = new BlockShard(index, model, from, to, next);
            return Behaviors.receive(Command.class)
                    .onMessage(Start.class, s -> {
                        s.replyTo().tell(shard.work(manager, scope -> start(s.source(), s.items(), s.cfg(), s.guidance(), scope)));
                        return Behaviors.same();
                    })
                    .onMessage(Forward.class, f -> {
                        shard.hand(shard.work(manager, scope -> shard.embedAndRun(f.trajectory(), f.call(), scope)),
                                f.call(), f.replyTo());
                        return Behaviors.same();
                    })
                    .onMessage(Continue.class, c -> {
                        shard.hand(shard.work(manager, scope -> shard.pass(c.hop(), c.call(), scope)), c.call(), c.replyTo());
                        return Behaviors.same();
                    })
                    .onMessage(Stop.class, s -> {
                        restore(originals);
                        manager.close();
                        s.replyTo().tell(Done.done());
                        return Behaviors.stopped();
                    })
                    .onSignal(PostStop.class, s -> {
                        restore(originals); // a no-op after Stop
                        manager.close(); // closing twice is harmless
                        return Behaviors.same();
                    })
                    .build();
        });
    }

    /** Where a shard's weights live while it runs: on its device, copied there only if they live elsewhere. */
    enum Placement {
        /** Copies a parameter to the shard's device when it lives on another one (the multi-GPU case). */
        ON_DEVICE,
        /** Copies every parameter of the range into the shard's manager, even on the same device (tests the path). */
        ALWAYS_COPY
    }

    /**
     * The parameters a shard at forward positions {@code from..to} runs: its blocks' (replaced linears and LoRA
     * adapters included), the embedders' on the first shard, the final layer's on the last.
     */
    static List<Param> rangeParams(FluxModel model, int from, int to) {
        int depth = model.config().depth();
        int last = model.config().blockCount() - 1;
        List<Param> out = new ArrayList<>();
        for (Param p : model.params().values()) {
            String name = p.name();
            int position = name.startsWith("double_blocks.") ? index(name, "double_blocks.")
                    : name.startsWith("single_blocks.") ? depth + index(name, "single_blocks.") : -1;
            boolean mine = position >= 0 ? position >= from && position <= to
                    : name.startsWith("final_layer.") ? to == last : from == 0;
            if (mine) out.add(p);
        }
        return out;
    }

    private static int index(String name, String prefix) {
        int dot = name.indexOf('.', prefix.length());
        return Integer.parseInt(name.substring(prefix.length(), dot));
    }

    /**
     * Puts the shard's parameters on its device: a copy in the shard's manager replaces each one that lives
     * elsewhere (every one under {@link Placement#ALWAYS_COPY}); the values replaced are returned, to be put back
     * when the shard stops. The ranges of a chain are disjoint, so shards never swap each other's parameters.
     */
    private static Map<Param, NDArray> place(List<Param> params, NDManager manager, Placement placement) {
        Map<Param, NDArray> originals = new LinkedHashMap<>();
        Device device = manager.getDevice();
        for (Param p : params) {
            NDArray v = p.value();
            boolean here = v.getDevice().equals(device);
            if (here && placement == Placement.ON_DEVICE) continue;
            NDArray copy = here ? v.duplicate() : v.toDevice(device, true);
            copy.attach(manager);
            originals.put(p, p.exchange(copy));
        }
        return originals;
    }

    private static void restore(Map<Param, NDArray> originals) {
        for (Map.Entry<Param, NDArray> e : originals.entrySet()) e.getKey().exchange(e.getValue());
        originals.clear();
    }

    private final int index;
    private final FluxModel model;
    private final int from;
    private final int to;
    private final ActorRef<Command> next;

    private BlockShard(int index, FluxModel model, int from, int to, ActorRef<Command> next) {
        this.index = index;
        this.model = model;
        this.from = from;
        this.to = to;
        this.next = next;
    }

    /**
     * Runs {@code work} in a sub-manager closed when it returns, with grad mode off on this thread (the model's
     * inference path; a pinned dispatcher may replace an idle thread, so it is set for every message).
     */
    private <T> Reply<T> work(NDManager manager, java.util.function.Function<NDManager, T> work) {
        ai.djl.engine.Engine.getInstance();
        ai.djl.pytorch.jni.JniUtils.setGradMode(false);
        try (NDManager scope = manager.newSubManager()) {
            return Reply.of(work.apply(scope));
        } catch (RuntimeException e) {
            return new Reply<>(null, e);
        }
    }

    /** The hidden state goes on to the next shard; the last shard's velocity, or any error, to the asker. */
    private void hand(Reply<Hop> r, Call call, ActorRef<Reply<Hop>> replyTo) {
        if (r.error() == null && next != null) {
            next.tell(new Continue(r.value(), call, replyTo));
        } else {
            replyTo.tell(r);
        }
    }

    /** The batch's noise and conditioning, as {@link Calibration} makes them (unconditional half second). */
    private static Trajectory start(CalibrationSource source, Calibration.Items items, boolean cfg, float guidance,
                                    NDManager scope) {
        CalibrationSource.Conditioning c = Calibration.conditioning(source, items.prompts(), cfg, guidance, scope);
        NDArray x = EulerSampler.noise(items.noiseSeeds(), source.latentTokens(), source.latentChannels(), scope);
        return new Trajectory(PlainArray.of(x), PlainArray.of(c.txt()), PlainArray.of(c.y()), PlainArray.of(c.txtIds()),
                PlainArray.of(c.imgIds()), List.of());
    }

    /** The first shard's part of a call: embed the inputs (both guidance halves), then run its blocks. */
    private Hop embedAndRun(Trajectory tr, Call call, NDManager scope) {
        boolean embed = model.config().guidanceEmbed();
        NDArray x = tr.x().toNd(scope);
        NDArray xin = call.cfg() ? x.concat(x, 0) : x;
        long rows = xin.getShape().get(0);
        NDArray txtIds = tr.txtIds().toNd(scope);
        NDArray imgIds = tr.imgIds().toNd(scope);
        FluxInputs in = new FluxInputs(xin, imgIds, tr.txt().toNd(scope), txtIds, scope.full(new Shape(rows), call.t()),
                tr.y().toNd(scope), embed ? scope.full(new Shape(rows), call.guidance()) : null);
        HiddenState h = model.embed(in);
        long lt = h.streams().txt().getShape().get(1);
        return run(h, model.vec(in), txtIds.concat(imgIds, 1), lt, call, tr.taps());
    }

    /** Continues a forward another shard began: its hidden state, conditioning vector and position ids. */
    private Hop pass(Hop hop, Call call, NDManager scope) {
        HiddenState h = hop.joint() != null ? HiddenState.ofJoint(hop.joint().toNd(scope))
                : HiddenState.of(hop.img().toNd(scope), hop.txt().toNd(scope));
        return run(h, hop.vec().toNd(scope), hop.ids().toNd(scope), hop.txtTokens(), call, hop.taps());
    }

    /**
     * Runs this shard's blocks on {@code h}, taps the call's tapped blocks (rows [0, rows) only: the conditional
     * half under classifier-free guidance) and hands on plain data: the hidden state, or the velocity when this is
     * the last shard.
     */
    private Hop run(HiddenState h, NDArray vec, NDArray ids, long txtTokens, Call call, List<ShardChain.Tap> tapsSoFar) {
        List<ShardChain.Tap> taps = new ArrayList<>(tapsSoFar);
        String r = "0:" + call.rows();
        boolean halve = call.cfg();
        Supplier<PlainArray> vecRows = once(() -> plain(vec, halve, r));
        Supplier<PlainArray> idRows = once(() -> plain(ids, halve, r));
        BlockTap tap = new BlockTap() {
            @Override
            public void doubleBlock(int i, Streams in, Streams out) {
                BlockId id = BlockId.ofDouble(i);
                if (call.tapped().contains(id)) {
                    taps.add(new ShardChain.Tap(call.step(), id,
                            List.of(plain(in.img(), halve, r), plain(in.txt(), halve, r)),
                            List.of(plain(out.img(), halve, r), plain(out.txt(), halve, r)), vecRows.get(), idRows.get()));
                }
            }

            @Override
            public void singleBlock(int i, NDArray in, NDArray out) {
                BlockId id = BlockId.ofSingle(i);
                if (call.tapped().contains(id)) {
                    taps.add(new ShardChain.Tap(call.step(), id, List.of(plain(in, halve, r)), List.of(plain(out, halve, r)),
                            vecRows.get(), idRows.get()));
                }
            }
        };
        try (Rope pe = model.rope(ids)) {
            HiddenState out = model.runBlocks(from, to, h, vec, pe, tap);
            if (next == null) {
                return new Hop(null, null, null, null, null, txtTokens, taps,
                        PlainArray.of(model.output(out.toJoint(), vec, txtTokens)));
            }
            PlainArray v = PlainArray.of(vec);
            PlainArray i = PlainArray.of(ids);
            return out.isJoint()
                    ? new Hop(null, null, PlainArray.of(out.joint()), v, i, txtTokens, taps, null)
                    : new Hop(PlainArray.of(out.streams().img()), PlainArray.of(out.streams().txt()), null, v, i, txtTokens, taps, null);
        }
    }

    /** The step's vec and ids rows are made once, on the first tap that needs them. */
    private static <T> Supplier<T> once(Supplier<T> s) {
        Object[] cell = new Object[1];
        return () -> {
            if (cell[0] == null) cell[0] = s.get();
            @SuppressWarnings("unchecked") T t = (T) cell[0];
            return t;
        };
    }

    private static PlainArray plain(NDArray a, boolean halve, String rows) {
        return PlainArray.of(halve ? a.get(rows) : a);
    }

    @Override
    public String toString() {
        return "shard " + index + " [blocks " + from + ".." + to + "]";
    }
}
