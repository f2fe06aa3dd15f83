package fastflux.model;

import static fastflux.model.PruneTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A model split over devices: contiguous block ranges balanced by bytes (the embedders on the first device, the final
 * layer on the last), every weight created in its device's manager, and the same outputs as on one device. The
 * devices here are all the CPU (DJL's PyTorch engine has one CPU device): the managers, not the devices, tell the
 * ranges apart, and no tensor crosses between real devices.
 */
class BlockPlacementTest {
    @Test
    void equalBlocksSplitEvenlyWithTheEmbeddersAndTheFinalLayerCounted() {
        assertArrayEquals(new int[][] {{0, 1}, {2, 3}}, BlockPlacement.split(new long[] {10, 10, 10, 10}, 0, 0, 2));
        // heavy embedders: the first device takes fewer blocks
        assertArrayEquals(new int[][] {{0, 0}, {1, 3}}, BlockPlacement.split(new long[] {10, 10, 10, 10}, 25, 0, 2));
        // a heavy final layer: the last device takes fewer
        assertArrayEquals(new int[][] {{0, 2}, {3, 3}}, BlockPlacement.split(new long[] {10, 10, 10, 10}, 0, 25, 2));
        // FLUX.1's shape: 19 double blocks about twice a single block's 38
        long[] flux = new long[57];
        for (int i = 0; i < 57; i++) flux[i] = i < 19 ? 2 : 1;
        int[][] r = BlockPlacement.split(flux, 0, 0, 2);
        assertArrayEquals(new int[] {0, 18}, r[0], "19 double blocks = 38 units, as much as the 38 single blocks");
        assertArrayEquals(new int[] {19, 56}, r[1]);
    }

    @Test
    void moreDevicesThanBlocksLeaveTheLastOnesEmpty() {
        int[][] r = BlockPlacement.split(new long[] {5, 5}, 1, 1, 4);
        assertArrayEquals(new int[][] {{0, 0}, {1, 1}, {2, 1}, {2, 1}}, r);
        assertArrayEquals(new int[][] {{0, 2}}, BlockPlacement.split(new long[] {1, 2, 3}, 7, 7, 1));
        assertThrows(IllegalArgumentException.class, () -> BlockPlacement.split(new long[] {1}, 0, 0, 0));
    }

    @Test
    void theSplitIsContiguousAndAsBalancedAsAnyContiguousSplit() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int trial = 0; trial < 200; trial++) {
            int n = 1 + rnd.nextInt(8);
            int k = 1 + rnd.nextInt(4);
            long[] b = new long[n];
            for (int i = 0; i < n; i++) b[i] = 1 + rnd.nextInt(100);
            long head = rnd.nextInt(150);
            long tail = rnd.nextInt(150);
            int[][] r = BlockPlacement.split(b, head, tail, k);
            assertEquals(k, r.length);
            int next = 0;
            for (int[] x : r) {
                assertEquals(next, x[0], "contiguous, in block order");
                next = x[1] + 1;
            }
            assertEquals(n, next, "every block placed once");
            assertEquals(bruteForceMax(b, head, tail, Math.min(k, n)), maxBytes(b, head, tail, r), "n=" + n + " k=" + k);
        }
    }

    @Test
    void everyWeightIsCreatedInItsDevicesManagerAndTheForwardIsUnchanged() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxInputs in = fixtureInputs(m);
            FluxModel one = ModelDir.load(FIXTURE, m, DataType.FLOAT32, Set.of());
            float[] expected = forward(one, in);
            for (int k = 2; k <= 3; k++) {
                List<Device> devices = Collections.nCopies(k, Device.cpu());
                try (NDManager jm = m.newSubManager()) {
                    FluxModel split = ModelDir.load(FIXTURE, jm, DataType.FLOAT32, Set.of(), devices);
                    BlockPlacement pl = split.placement();
                    assertNotNull(pl, k + " devices split the model");
                    FluxParams p = split.config();
                    // blocks: 2 double + 3 single; each device holds at least one block
                    for (int d = 0; d < k; d++) assertTrue(pl.range(d)[1] >= pl.range(d)[0], "device " + d + " holds blocks: " + pl);
                    long total = 0;
                    long[] bytes = new long[k];
                    for (Param q : split.params().values()) {
                        int d = pl.deviceIndexOf(q.name(), p);
                        NDManager owner = split.managerFor(q.name());
                        assertSame(owner, q.value().getManager(), q.name() + " is created in device " + d + "'s manager");
                        assertEquals(pl.devices().get(d), q.value().getDevice());
                        int pos = BlockPlacement.position(q.name(), p);
                        if (pos == BlockPlacement.HEAD) assertEquals(0, d, q.name() + ": the embedders on the first device");
                        else if (pos == BlockPlacement.TAIL) assertEquals(k - 1, d, q.name() + ": the final layer on the last");
                        else assertTrue(pos >= pl.range(d)[0] && pos <= pl.range(d)[1], q.name() + " in its device's range");
                        bytes[d] += q.value().size() * 4;
                        total += q.value().size() * 4;
                    }
                    assertArrayEquals(bytes, pl.bytesPerDevice(split), "bytes per device");
                    assertEquals(total, java.util.Arrays.stream(bytes).sum(), "every weight held once");
                    assertEquals(maxBytes(blockBytes(split), headBytes(split, BlockPlacement.HEAD), headBytes(split, BlockPlacement.TAIL),
                                    pl.ranges().toArray(int[][]::new)),
                            java.util.Arrays.stream(bytes).max().getAsLong(), "the largest device's bytes");
                    assertArrayEquals(expected, forward(split, in), k + " devices: the same velocity, bit for bit");
                    // a range that crosses a device boundary, as the sandwich and the fit run it
                    HiddenState h0 = one.embed(in);
                    NDArray vec = one.vec(in);
                    try (Rope pe = one.rope(in)) {
                        float[] a = one.runBlocks(1, 3, one.runBlocks(0, 0, h0, vec, pe), vec, pe).toJoint().toFloatArray();
                        HiddenState s0 = split.embed(in);
                        NDArray sv = split.vec(in);
                        float[] b = split.runBlocks(1, 3, split.runBlocks(0, 0, s0, sv, pe), sv, pe).toJoint().toFloatArray();
                        assertArrayEquals(a, b, "blocks 1..3 across the boundary");
                    }
                }
            }
        }
    }

    @Test
    void adaptersAddedLaterMoveToTheirBlocksDevice() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel split = ModelDir.load(FIXTURE, m, DataType.FLOAT32, Set.of(), List.of(Device.cpu(), Device.cpu()));
            BlockId last = BlockId.atPosition(split.config().blockCount() - 1, split.config());
            new LoraInjector(2, 2f, 1).inject(split, last, m);
            split.placeWeights(); // the CPU is one device: nothing moves, and nothing may break
            for (Map.Entry<String, Param> e : LoraInjector.trainableParams(split, last).entrySet()) {
                assertEquals(1, split.placement().deviceIndexOf(e.getKey(), split.config()), e.getKey() + " belongs to the last device");
                assertEquals(Device.cpu(), e.getValue().value().getDevice());
            }
        }
    }

    private static long[] blockBytes(FluxModel model) {
        long[] b = new long[model.config().blockCount()];
        for (Param q : model.params().values()) {
            int pos = BlockPlacement.position(q.name(), model.config());
            if (pos >= 0) b[pos] += q.shape().size() * 4;
        }
        return b;
    }

    private static long headBytes(FluxModel model, int which) {
        long n = 0;
        for (Param q : model.params().values()) {
            if (BlockPlacement.position(q.name(), model.config()) == which) n += q.shape().size() * 4;
        }
        return n;
    }

    private static long maxBytes(long[] b, long head, long tail, int[][] r) {
        int lastUsed = 0;
        for (int d = 0; d < r.length; d++) if (r[d][1] >= r[d][0]) lastUsed = d;
        long max = 0;
        for (int d = 0; d < r.length; d++) {
            long s = (d == 0 ? head : 0) + (d == lastUsed ? tail : 0);
            for (int i = r[d][0]; i <= r[d][1]; i++) s += b[i];
            max = Math.max(max, s);
        }
        return max;
    }

    // the smallest largest-device bytes over every contiguous split into k non-empty ranges
    private static long bruteForceMax(long[] b, long head, long tail, int k) {
        return brute(b, head, tail, k, 0, 0, 0);
    }

    private static long brute(long[] b, long head, long tail, int k, int d, int start, long soFar) {
        int n = b.length;
        if (d == k - 1) {
            long s = (d == 0 ? head : 0) + tail;
            for (int i = start; i < n; i++) s += b[i];
            return Math.max(soFar, s);
        }
        long best = Long.MAX_VALUE;
        for (int end = start; end <= n - (k - d); end++) {
            long s = d == 0 ? head : 0;
            for (int i = start; i <= end; i++) s += b[i];
            best = Math.min(best, brute(b, head, tail, k, d + 1, end + 1, Math.max(soFar, s)));
        }
        return best;
    }
}
