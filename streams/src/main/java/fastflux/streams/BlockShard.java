package fastflux.streams;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.model.BlockTap;
import fastflux.model.FluxModel;
import fastflux.model.HiddenState;
import fastflux.model.Rope;
import fastflux.model.Streams;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.function.Function;

/**
 * One shard of a model split over devices: it owns a thread of its own (DJL's grad mode is per thread, and
 * native work stays off the stream's dispatcher), an NDManager on its device, and the blocks at forward
 * positions {@code from..to}. Work arrives as plain data, runs in a sub-manager that is closed when the task
 * ends, and leaves as plain data: no array outlives a task or crosses to another shard.
 *
 * <p>Here the shards of one JVM run the blocks of one shared {@link FluxModel} (read-only during calibration);
 * on a multi-GPU server each shard would hold its own block range on {@code Device.gpu(i)}, and the messages
 * would not change.
 */
final class BlockShard implements AutoCloseable {
    /** A hidden state between two shards, with what the next shard needs to continue the forward. */
    record Hop(PlainArray img, PlainArray txt, PlainArray joint, PlainArray vec, PlainArray ids, long txtTokens,
               List<ShardChain.Tap> taps, PlainArray velocity) {}

    private final int index;
    private final FluxModel model;
    private final int from;
    private final int to;
    private final ExecutorService thread;
    private final NDManager manager;

    BlockShard(int index, FluxModel model, int from, int to, Device device) {
        this.index = index;
        this.model = model;
        this.from = from;
        this.to = to;
        this.thread = ShardThreads.single("fastflux-shard-" + index);
        this.manager = NDManager.newBaseManager(device);
    }

    int from() {
        return from;
    }

    int to() {
        return to;
    }

    boolean isLast() {
        return to == model.config().blockCount() - 1;
    }

    /** Runs {@code work} on this shard's thread in a sub-manager closed when it returns. */
    <T> CompletableFuture<T> submit(Function<NDManager, T> work) {
        return CompletableFuture.supplyAsync(() -> {
            try (NDManager scope = manager.newSubManager()) {
                return work.apply(scope);
            }
        }, thread);
    }

    /**
     * Runs this shard's blocks on {@code h} (arrays in {@code scope}), taps the {@code tapped} blocks (rows
     * [0, rows) only: the conditional half under classifier-free guidance) and hands on plain data: the hidden
     * state, or the velocity when this is the last shard.
     */
    Hop run(HiddenState h, NDArray vec, NDArray ids, long txtTokens, int step, int rows, boolean halve,
            Set<BlockId> tapped, List<ShardChain.Tap> tapsSoFar) {
        List<ShardChain.Tap> taps = new ArrayList<>(tapsSoFar);
        String r = "0:" + rows;
        PlainArray[] context = new PlainArray[2]; // the step's vec and ids, made once, on the first tap
        BlockTap tap = new BlockTap() {
            @Override
            public void doubleBlock(int i, Streams in, Streams out) {
                BlockId id = BlockId.ofDouble(i);
                if (tapped.contains(id)) {
                    taps.add(new ShardChain.Tap(step, id,
                            List.of(plain(in.img(), halve, r), plain(in.txt(), halve, r)),
                            List.of(plain(out.img(), halve, r), plain(out.txt(), halve, r)), vec(), ids()));
                }
            }

            @Override
            public void singleBlock(int i, NDArray in, NDArray out) {
                BlockId id = BlockId.ofSingle(i);
                if (tapped.contains(id)) {
                    taps.add(new ShardChain.Tap(step, id, List.of(plain(in, halve, r)), List.of(plain(out, halve, r)),
                            vec(), ids()));
                }
            }

            private PlainArray vec() {
                if (context[0] == null) context[0] = plain(vec, halve, r);
                return context[0];
            }

            private PlainArray ids() {
                if (context[1] == null) context[1] = plain(ids, halve, r);
                return context[1];
            }
        };
        try (Rope pe = model.rope(ids)) {
            HiddenState out = model.runBlocks(from, to, h, vec, pe, tap);
            if (isLast()) {
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

    /** Continues a forward another shard began: its hidden state, conditioning vector and position ids. */
    Hop pass(Hop hop, int step, int rows, boolean halve, Set<BlockId> tapped, NDManager scope) {
        HiddenState h = hop.joint() != null ? HiddenState.ofJoint(hop.joint().toNd(scope))
                : HiddenState.of(hop.img().toNd(scope), hop.txt().toNd(scope));
        return run(h, hop.vec().toNd(scope), hop.ids().toNd(scope), hop.txtTokens(), step, rows, halve, tapped, hop.taps());
    }

    private static PlainArray plain(NDArray a, boolean halve, String rows) {
        return PlainArray.of(halve ? a.get(rows) : a);
    }

    @Override
    public void close() {
        ShardThreads.stop(thread);
        manager.close();
    }

    @Override
    public String toString() {
        return "shard " + index + " [blocks " + from + ".." + to + "]";
    }
}
