package fastflux.pruning.plan;

import ai.djl.Device;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The devices a job runs on, as the command line names them: {@code cpu}, or {@code cuda:0,cuda:1,...} (DJL's
 * {@code gpu0} is accepted too). {@link #range} splits the blocks into one contiguous range per device, in block
 * order, sizes differing by at most one (as {@code ShardChain} splits a model on one device; the plan counts these);
 * a job on several devices splits its transformer by parameter bytes instead ({@link fastflux.model.BlockPlacement}).
 * The embedders go with the first range and the final layer with the last, and the hidden state crosses from one
 * device to the next between ranges.
 */
public final class Devices {
    public static final Devices CPU = new Devices(List.of(Device.cpu()));

    private final List<Device> devices;

    private Devices(List<Device> devices) {
        this.devices = List.copyOf(devices);
    }

    /**
     * Parses {@code cpu} or a comma-separated list of distinct CUDA devices.
     *
     * @throws IllegalArgumentException naming the entry that is not a device, a repeated device, or cpu mixed with GPUs
     */
    public static Devices parse(String spec) {
        String s = spec.trim().toLowerCase(Locale.ROOT);
        if (s.equals("cpu")) return CPU;
        Set<Integer> ids = new LinkedHashSet<>();
        for (String part : s.split(",", -1)) {
            String p = part.trim();
            Integer id = null;
            if (p.matches("cuda:\\d+")) id = Integer.parseInt(p.substring(5));
            else if (p.matches("gpu\\d+")) id = Integer.parseInt(p.substring(3));
            else if (p.equals("cuda")) id = 0;
            if (id == null) {
                throw new IllegalArgumentException("devices '" + spec + "': '" + p + "' is not a device (cpu, or cuda:N,"
                        + " ...; cpu cannot be mixed with GPUs)");
            }
            if (!ids.add(id)) throw new IllegalArgumentException("devices '" + spec + "': cuda:" + id + " is named twice");
        }
        List<Device> list = new ArrayList<>();
        for (int id : ids) list.add(Device.gpu(id));
        return new Devices(list);
    }

    public List<Device> list() {
        return devices;
    }

    public int size() {
        return devices.size();
    }

    public boolean gpu() {
        return devices.get(0).isGpu();
    }

    /** The name of device {@code i} as the command line writes it: {@code cpu}, {@code cuda:1}. */
    public String name(int i) {
        Device d = devices.get(i);
        return d.isGpu() ? "cuda:" + d.getDeviceId() : "cpu";
    }

    /**
     * Device {@code i}'s forward positions [from, to] of {@code blocks} blocks. With more devices than blocks the
     * last devices get none (from = to + 1).
     */
    public int[] range(int i, int blocks) {
        int k = devices.size();
        return new int[] {i * blocks / k, (i + 1) * blocks / k - 1};
    }

    @Override
    public String toString() {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < devices.size(); i++) names.add(name(i));
        return String.join(",", names);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Devices d && d.devices.equals(devices);
    }

    @Override
    public int hashCode() {
        return devices.hashCode();
    }
}
