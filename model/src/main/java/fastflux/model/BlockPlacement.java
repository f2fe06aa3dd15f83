package fastflux.model;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Which device holds which part of a {@link FluxModel}: the blocks split into one contiguous range of forward
 * positions per device, in block order, balanced by parameter bytes (the largest device's bytes as small as a
 * contiguous split allows); the embedders go with the first range and the final layer with the last. Every weight is
 * held once, on its range's device; the forward moves the hidden state to the next device where a range ends
 * ({@link FluxModel#runBlocks}). With more devices than blocks the devices after the last block hold nothing.
 */
public final class BlockPlacement {
    private final List<Device> devices;
    private final int[][] ranges; // per device: {from, to}, from = to + 1 when empty
    private final int[] deviceOfPosition;
    private final int blockCount;
    private final int lastUsed;

    private BlockPlacement(List<Device> devices, int[][] ranges, int blockCount) {
        this.devices = List.copyOf(devices);
        this.ranges = ranges;
        this.blockCount = blockCount;
        this.deviceOfPosition = new int[blockCount];
        int last = 0;
        for (int d = 0; d < ranges.length; d++) {
            for (int p = ranges[d][0]; p <= ranges[d][1]; p++) deviceOfPosition[p] = d;
            if (ranges[d][1] >= ranges[d][0]) last = d;
        }
        this.lastUsed = last;
    }

    /**
     * The placement of {@code model}'s parameters, held in {@code dtype}, on {@code devices}: ranges from
     * {@link #split} of each block's bytes (replaced linears and adapters included as the model holds them now).
     */
    public static BlockPlacement of(FluxModel model, List<Device> devices, DataType dtype) {
        if (devices.isEmpty()) throw new IllegalArgumentException("a placement needs at least one device");
        int n = model.config().blockCount();
        long[] blocks = new long[n];
        long head = 0;
        long tail = 0;
        for (Param p : model.params().values()) {
            long bytes = p.shape().size() * dtype.getNumOfBytes();
            int position = position(p.name(), model.config());
            if (position == HEAD) head += bytes;
            else if (position == TAIL) tail += bytes;
            else blocks[position] += bytes;
        }
        return new BlockPlacement(devices, split(blocks, head, tail, devices.size()), n);
    }

    /** The whole model on one device (the placement of a model that was never split). */
    public static BlockPlacement single(FluxModel model, Device device) {
        int n = model.config().blockCount();
        return new BlockPlacement(List.of(device), new int[][] {{0, n - 1}}, n);
    }

    /** {@link #position} of a parameter of the embedders (img_in, txt_in, time_in, vector_in, guidance_in). */
    public static final int HEAD = -1;
    /** {@link #position} of a parameter of the final layer. */
    public static final int TAIL = -2;

    /**
     * The forward position of the block a parameter belongs to ({@link BlockId#position}), {@link #TAIL} for the
     * final layer, {@link #HEAD} for everything else (the embedders).
     */
    public static int position(String name, FluxParams p) {
        if (name.startsWith("double_blocks.")) return index(name, "double_blocks.");
        if (name.startsWith("single_blocks.")) return p.depth() + index(name, "single_blocks.");
        if (name.startsWith("final_layer.")) return TAIL;
        return HEAD;
    }

    private static int index(String name, String prefix) {
        int dot = name.indexOf('.', prefix.length());
        return Integer.parseInt(name.substring(prefix.length(), dot < 0 ? name.length() : dot));
    }

    /**
     * Contiguous ranges of {@code blockBytes.length} blocks over {@code devices} devices minimising the largest
     * device's bytes, where the first device also holds {@code headBytes} and the last device with blocks
     * {@code tailBytes}. Each of the first min(devices, blocks) devices gets at least one block, the rest none
     * ({from, from - 1}). Ties go to the split that ends each range earliest, so the result is deterministic.
     */
    public static int[][] split(long[] blockBytes, long headBytes, long tailBytes, int devices) {
        int n = blockBytes.length;
        if (devices < 1) throw new IllegalArgumentException("devices must be at least 1, got " + devices);
        if (n < 1) throw new IllegalArgumentException("a model without blocks cannot be split");
        int k = Math.min(devices, n);
        long[] prefix = new long[n + 1];
        for (int i = 0; i < n; i++) prefix[i + 1] = prefix[i] + blockBytes[i];
        // best[d][i]: the smallest largest-device bytes of blocks 0..i-1 on devices 0..d, each with at least one block
        long[][] best = new long[k][n + 1];
        int[][] cut = new int[k][n + 1];
        for (long[] row : best) Arrays.fill(row, Long.MAX_VALUE);
        for (int i = 1; i <= n; i++) best[0][i] = prefix[i] + headBytes + (k == 1 ? tailBytes : 0);
        for (int d = 1; d < k; d++) {
            long extra = d == k - 1 ? tailBytes : 0;
            for (int i = d + 1; i <= n; i++) {
                for (int j = d; j < i; j++) {
                    if (best[d - 1][j] == Long.MAX_VALUE) continue;
                    long v = Math.max(best[d - 1][j], prefix[i] - prefix[j] + extra);
                    if (v < best[d][i]) {
                        best[d][i] = v;
                        cut[d][i] = j;
                    }
                }
            }
        }
        int[][] ranges = new int[devices][];
        int end = n;
        for (int d = k - 1; d >= 0; d--) {
            int start = d == 0 ? 0 : cut[d][end];
            ranges[d] = new int[] {start, end - 1};
            end = start;
        }
        for (int d = k; d < devices; d++) ranges[d] = new int[] {n, n - 1};
        return ranges;
    }

    public List<Device> devices() {
        return devices;
    }

    /** Device {@code i}'s forward positions {from, to}, inclusive (from = to + 1: none). */
    public int[] range(int i) {
        return ranges[i].clone();
    }

    /** Every device's range, in device order. */
    public List<int[]> ranges() {
        List<int[]> out = new ArrayList<>();
        for (int[] r : ranges) out.add(r.clone());
        return out;
    }

    /** The index of the device that runs the block at forward position {@code p}. */
    public int deviceIndexOfPosition(int p) {
        if (p < 0 || p >= blockCount) throw new IllegalArgumentException("block position " + p + " outside 0.." + (blockCount - 1));
        return deviceOfPosition[p];
    }

    /** The index of the device that holds the parameter called {@code name}. */
    public int deviceIndexOf(String name, FluxParams p) {
        int position = position(name, p);
        return position == HEAD ? 0 : position == TAIL ? lastUsed : deviceOfPosition[position];
    }

    /** The device of the embedders (the first). */
    public Device first() {
        return devices.get(0);
    }

    /** The device of the final layer (the last one with blocks). */
    public Device last() {
        return devices.get(lastUsed);
    }

    /** Bytes of {@code model}'s parameters on each device, as their values are held now (their own dtype). */
    public long[] bytesPerDevice(FluxModel model) {
        long[] out = new long[devices.size()];
        for (Param p : model.params().values()) {
            int d = deviceIndexOf(p.name(), model.config());
            long elems = p.shape().size();
            out[d] += p.hasValue() ? elems * p.value().getDataType().getNumOfBytes() : 0;
        }
        return out;
    }

    /** One manager per device, each a sub-manager of {@code parent} on that device (distinct even for equal devices). */
    public List<NDManager> managers(NDManager parent) {
        List<NDManager> out = new ArrayList<>();
        for (Device d : devices) out.add(parent.newSubManager(d));
        return out;
    }

    /** The manager of {@code managers} (one per device, as {@link #managers}) that holds parameter {@code p}. */
    public NDManager managerOf(Param p, FluxParams params, List<NDManager> managers) {
        return managers.get(deviceIndexOf(p.name(), params));
    }

    /** The parameters of {@code params} by device index. */
    public List<List<Param>> byDevice(Map<String, Param> params, FluxParams p) {
        List<List<Param>> out = new ArrayList<>();
        for (int i = 0; i < devices.size(); i++) out.add(new ArrayList<>());
        for (Param q : params.values()) out.get(deviceIndexOf(q.name(), p)).add(q);
        return out;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("BlockPlacement[");
        for (int d = 0; d < devices.size(); d++) {
            sb.append(d == 0 ? "" : ", ").append(devices.get(d)).append(": blocks ").append(ranges[d][0]).append("..").append(ranges[d][1]);
        }
        return sb.append(']').toString();
    }
}
