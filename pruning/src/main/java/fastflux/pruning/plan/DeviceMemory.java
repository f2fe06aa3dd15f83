package fastflux.pruning.plan;

import ai.djl.Device;
import java.io.IOException;
import java.lang.management.MemoryUsage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;

/**
 * How much memory a device has for a job. The CPU's is the smaller of the kernel's {@code MemAvailable}
 * ({@code /proc/meminfo}) and this process's cgroup limit (v2 {@code memory.max}, v1 {@code memory.limit_in_bytes});
 * a CUDA device's is its free memory as the CUDA runtime reports it (DJL's {@code CudaUtils.getGpuMemory}). A limit
 * given by the user ({@code --memory-limit}) replaces either.
 */
public final class DeviceMemory {
    /** A device's capacity and where the figure came from. */
    public record Capacity(long bytes, String source) {}

    private final Path proc;
    private final Path cgroupRoot;

    /** Reads {@code /proc} and {@code /sys/fs/cgroup}. */
    public static DeviceMemory system() {
        return new DeviceMemory(Path.of("/proc"), Path.of("/sys/fs/cgroup"));
    }

    /** Reads the given roots (tests give files of their own). */
    public DeviceMemory(Path proc, Path cgroupRoot) {
        this.proc = proc;
        this.cgroupRoot = cgroupRoot;
    }

    /**
     * The capacity of {@code device}: {@code limit} when given, else as measured.
     *
     * @throws IllegalArgumentException when a GPU's memory cannot be read (no CUDA runtime): naming the device and
     *     asking for --memory-limit
     */
    public Capacity capacity(Device device, Long limit) {
        if (limit != null) return new Capacity(limit, "--memory-limit");
        if (!device.isGpu()) return cpu();
        String name = "cuda:" + device.getDeviceId();
        try {
            MemoryUsage m = ai.djl.util.cuda.CudaUtils.getGpuMemory(device);
            return new Capacity(m.getMax() - m.getCommitted(), "free memory of " + name + " (CUDA runtime)");
        } catch (RuntimeException | LinkageError e) {
            throw new IllegalArgumentException("cannot read the memory of " + name + " (" + e.getMessage()
                    + "): no CUDA runtime here; give --memory-limit SIZE to plan for it");
        }
    }

    /** The CPU's capacity: min(MemAvailable, the cgroup limit). */
    public Capacity cpu() {
        long available = memAvailable();
        OptionalLong cg = cgroupLimit();
        if (cg.isPresent() && cg.getAsLong() < available) {
            return new Capacity(cg.getAsLong(), "cgroup memory limit (below MemAvailable " + Bytes.format(available) + ")");
        }
        return new Capacity(available, "MemAvailable in " + proc.resolve("meminfo"));
    }

    long memAvailable() {
        Path f = proc.resolve("meminfo");
        try {
            for (String line : Files.readAllLines(f)) {
                if (line.startsWith("MemAvailable:")) {
                    String[] p = line.substring("MemAvailable:".length()).trim().split("\\s+");
                    return Long.parseLong(p[0]) * (p.length > 1 && p[1].equalsIgnoreCase("kB") ? 1024 : 1);
                }
            }
        } catch (IOException | NumberFormatException e) {
            throw new IllegalStateException("cannot read MemAvailable from " + f + ": " + e.getMessage()
                    + "; give --memory-limit SIZE", e);
        }
        throw new IllegalStateException(f + " has no MemAvailable line; give --memory-limit SIZE");
    }

    /** The memory limit of this process's cgroup (v2, then v1), or empty when there is none. */
    OptionalLong cgroupLimit() {
        String v2 = null, v1 = null;
        try {
            for (String line : Files.readAllLines(proc.resolve("self/cgroup"))) {
                String[] p = line.split(":", 3);
                if (p.length < 3) continue;
                if (p[0].equals("0") && p[1].isEmpty()) v2 = p[2];
                if (List.of(p[1].split(",")).contains("memory")) v1 = p[2];
            }
        } catch (IOException e) {
            // no cgroup file: nothing limits the process beyond MemAvailable
        }
        OptionalLong limit = OptionalLong.empty();
        if (v2 != null) limit = min(limit, read(cgroupRoot.resolve(rel(v2)).resolve("memory.max")));
        if (v2 != null) limit = min(limit, read(cgroupRoot.resolve("memory.max")));
        if (v1 != null) limit = min(limit, read(cgroupRoot.resolve("memory").resolve(rel(v1)).resolve("memory.limit_in_bytes")));
        if (v1 != null) limit = min(limit, read(cgroupRoot.resolve("memory/memory.limit_in_bytes")));
        return limit;
    }

    private static String rel(String p) {
        return p.startsWith("/") ? p.substring(1) : p;
    }

    private static OptionalLong min(OptionalLong a, OptionalLong b) {
        if (a.isEmpty()) return b;
        if (b.isEmpty()) return a;
        return OptionalLong.of(Math.min(a.getAsLong(), b.getAsLong()));
    }

    // "max" (v2) or a huge page-rounded value (v1, 2^63 - 4096) mean no limit
    private static OptionalLong read(Path f) {
        try {
            if (!Files.isRegularFile(f)) return OptionalLong.empty();
            String s = Files.readString(f).trim();
            if (s.equals("max")) return OptionalLong.empty();
            long v = Long.parseLong(s);
            return v >= (1L << 60) ? OptionalLong.empty() : OptionalLong.of(v);
        } catch (IOException | NumberFormatException e) {
            return OptionalLong.empty();
        }
    }
}
