package fastflux.actors;

import fastflux.pruning.PruneMetrics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.DiskSpaceMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's metrics, all in one place: {@link #bind} registers the JVM's and the process's figures, the devices'
 * memory and the jobs by state into Micrometer's global registry, which the HTTP module's {@code /metrics} serves
 * in Prometheus' text format; the node reports its jobs through a {@link Node}; the method's own figures
 * (calibration items, sandwich losses and pairs) come from {@link PruneMetrics}, the checkpoint writes from
 * {@code CheckpointMetrics}. Every metric, its meaning and example alert rules: docs/metrics.md.
 */
public final class DaemonMetrics {
    private static final Logger LOG = LoggerFactory.getLogger(DaemonMetrics.class);
    private static final MeterRegistry REGISTRY = Metrics.globalRegistry;
    private static final AtomicBoolean BOUND = new AtomicBoolean();
    /** The nodes of this JVM (one in a daemon; tests run several). */
    private static final Set<Node> NODES = ConcurrentHashMap.newKeySet();

    private DaemonMetrics() {}

    /**
     * Binds the daemon-level metrics into Micrometer's global registry: JVM memory (heap, non-heap, direct buffers),
     * GC, threads, classes, CPU, uptime, open files; the process's resident memory ({@code /proc/self/status}: the
     * tensors live outside the Java heap) and the memory limit it runs under; free space where {@code stateDir} is;
     * each CUDA device's memory when the engine uses GPUs; the jobs by state and every meter of the method.
     * Idempotent: the second and later calls do nothing.
     *
     * @param stateDir the daemon's state directory (null: no disk gauge)
     */
    public static void bind(Path stateDir) {
        if (!BOUND.compareAndSet(false, true)) return;
        new JvmMemoryMetrics().bindTo(REGISTRY);
        new JvmGcMetrics().bindTo(REGISTRY); // its GC listeners live as long as the JVM, as the registry does
        new JvmThreadMetrics().bindTo(REGISTRY);
        new ClassLoaderMetrics().bindTo(REGISTRY);
        new ProcessorMetrics().bindTo(REGISTRY);
        new UptimeMetrics().bindTo(REGISTRY);
        new FileDescriptorMetrics().bindTo(REGISTRY);
        if (stateDir != null) new DiskSpaceMetrics(existing(stateDir).toFile()).bindTo(REGISTRY);
        ProcessMemory.bind(REGISTRY);
        bindDevices();
        for (JobState s : JobState.values()) {
            Gauge.builder("fastflux.jobs", () -> count(s)).tag("state", s.word())
                    .description("jobs on this daemon in each state").register(REGISTRY);
            if (s.isTerminal()) ended(s);
        }
        PruneMetrics.register();
    }

    /** {@code dir} or the nearest ancestor that exists (the state directory is made by the first job). */
    private static Path existing(Path dir) {
        Path p = dir.toAbsolutePath().normalize();
        while (p.getParent() != null && !Files.isDirectory(p)) p = p.getParent();
        return p;
    }

    private static int count(JobState s) {
        int n = 0;
        for (Node node : NODES) n += node.counts.get(s.ordinal());
        return n;
    }

    private static Counter ended(JobState s) {
        return Counter.builder("fastflux.jobs.ended").tag("state", s.word())
                .description("jobs that reached a final state (done, failed, cancelled) since the daemon started").register(REGISTRY);
    }

    /**
     * Each CUDA device's memory as the driver reports it (DJL's {@link ai.djl.util.cuda.CudaUtils#getGpuMemory}: used
     * is total minus free, so other processes on the device count too). On a CPU-only engine nothing is registered:
     * the tensors are in the process's resident memory.
     */
    private static void bindDevices() {
        int gpus;
        try {
            gpus = ai.djl.engine.Engine.getInstance().getGpuCount();
        } catch (RuntimeException | LinkageError e) {
            LOG.warn("device memory is not reported: the engine did not start ({})", e.toString());
            return;
        }
        if (gpus == 0 || !ai.djl.util.cuda.CudaUtils.hasCuda()) {
            LOG.debug("no GPU in use: device memory is part of process_resident_memory_bytes");
            return;
        }
        for (int i = 0; i < gpus; i++) {
            ai.djl.Device d = ai.djl.Device.gpu(i);
            Gauge.builder("fastflux.device.memory.used", () -> ai.djl.util.cuda.CudaUtils.getGpuMemory(d).getUsed())
                    .tag("device", d.toString()).baseUnit("bytes")
                    .description("memory in use on the device (all processes), as the CUDA driver reports it").register(REGISTRY);
            Gauge.builder("fastflux.device.memory.total", () -> ai.djl.util.cuda.CudaUtils.getGpuMemory(d).getMax())
                    .tag("device", d.toString()).baseUnit("bytes").description("the device's memory").register(REGISTRY);
        }
    }

    /** A node's view for the metrics: its jobs' states and its running job's progress. */
    static Node node() {
        Node n = new Node();
        NODES.add(n);
        return n;
    }

    /**
     * What one {@link NodeSupervisor} reports, on its actor's thread: the jobs after each change ({@link #jobs}) and
     * each progress snapshot ({@link #progress}); {@link #close} when the node stops. Scrapes read it from other
     * threads: the counts are atomic, the running job's figures volatile.
     */
    static final class Node {
        private final AtomicIntegerArray counts = new AtomicIntegerArray(JobState.values().length);
        private final Map<String, JobState> seen = new HashMap<>();
        private final Map<String, Running> running = new HashMap<>();
        private boolean loaded;

        private Node() {}

        /** The node's jobs after a change: recounts the states, counts each new ending, drops meters of jobs no longer running. */
        void jobs(Collection<JobRegistry.Job> jobs) {
            int[] c = new int[JobState.values().length];
            boolean first = !loaded; // the jobs as loaded: their endings happened before this daemon started
            loaded = true;
            for (JobRegistry.Job j : jobs) {
                JobState s = j.state();
                c[s.ordinal()]++;
                JobState before = seen.put(j.id, s);
                if (!first && s.isTerminal() && before != s) ended(s).increment();
                if (s != JobState.RUNNING) {
                    Running r = running.remove(j.id);
                    if (r != null) r.remove();
                }
            }
            for (int i = 0; i < c.length; i++) counts.set(i, c[i]);
        }

        /** A running job's progress snapshot. */
        void progress(Protocol.Progress p) {
            if (p.state() != JobState.RUNNING) return;
            running.computeIfAbsent(p.jobId(), Running::new).update(p);
        }

        void close() {
            NODES.remove(this);
            running.values().forEach(Running::remove);
            running.clear();
        }
    }

    /**
     * The gauges of one running job, tagged {@code job_id} (Prometheus gives every scraped series a {@code job} label
     * of its own); removed when the job stops running, so a scrape shows only running jobs.
     */
    private static final class Running {
        private final String jobId;
        private final List<Meter> meters = new ArrayList<>();
        private volatile int blocksDone;
        private volatile int blocksTotal;
        private volatile double etaSeconds = Double.NaN;
        private volatile double elapsedSeconds;
        private volatile double updatedSeconds;
        private String phase;
        private Meter phaseMeter;

        Running(String jobId) {
            this.jobId = jobId;
            meters.add(gauge("fastflux.job.blocks.done", r -> r.blocksDone, null, "blocks replaced so far (fitted and sandwich-trained)"));
            meters.add(gauge("fastflux.job.blocks.target", r -> r.blocksTotal, null, "blocks the job replaces in all"));
            meters.add(gauge("fastflux.job.eta", r -> r.etaSeconds, "seconds",
                    "estimated time to the last block, from this run's time per block; NaN before its first block"));
            meters.add(gauge("fastflux.job.elapsed", r -> r.elapsedSeconds, "seconds", "time since the job (re)started on this daemon"));
            meters.add(gauge("fastflux.job.progress.timestamp", r -> r.updatedSeconds, "seconds",
                    "when the job last reported progress (Unix time): a job that stops moving keeps an old value"));
        }

        private Meter gauge(String name, java.util.function.ToDoubleFunction<Running> f, String unit, String description) {
            return Gauge.builder(name, this, f).tag("job_id", jobId).baseUnit(unit).description(description).strongReference(true)
                    .register(REGISTRY);
        }

        void update(Protocol.Progress p) {
            blocksDone = p.blocksDone();
            blocksTotal = p.blocksTotal();
            etaSeconds = p.etaSeconds();
            elapsedSeconds = p.elapsedSeconds();
            updatedSeconds = System.currentTimeMillis() / 1000.0;
            if (p.phase().isEmpty() || p.phase().equals(phase)) return;
            if (phaseMeter != null) REGISTRY.remove(phaseMeter);
            phase = p.phase();
            phaseMeter = Gauge.builder("fastflux.job.phase", () -> 1).tag("job_id", jobId).tag("phase", phase)
                    .description("the running job's phase, as status shows it (value 1; the phase is the label)").register(REGISTRY);
        }

        void remove() {
            meters.forEach(REGISTRY::remove);
            if (phaseMeter != null) REGISTRY.remove(phaseMeter);
        }
    }

    /**
     * The process's resident memory from {@code /proc/self/status} (Linux; nothing registered elsewhere) under
     * Prometheus' usual name {@code process_resident_memory_bytes}, its peak, and the limit it runs under: the
     * cgroup's memory limit when one is set (a container), else the machine's memory.
     */
    static final class ProcessMemory {
        private static final Path STATUS = Path.of("/proc/self/status");
        private static final Path CGROUP2 = Path.of("/sys/fs/cgroup/memory.max");
        private static final Path CGROUP1 = Path.of("/sys/fs/cgroup/memory/memory.limit_in_bytes");
        private static final Path MEMINFO = Path.of("/proc/meminfo");

        private ProcessMemory() {}

        static void bind(MeterRegistry r) {
            if (Double.isNaN(kib(STATUS, "VmRSS"))) {
                LOG.debug("{} has no VmRSS: process_resident_memory_bytes is not reported", STATUS);
                return;
            }
            Gauge.builder("process.resident.memory", () -> 1024 * kib(STATUS, "VmRSS")).baseUnit("bytes")
                    .description("resident memory of the daemon's process (Java heap, direct buffers and the engine's tensors)").register(r);
            Gauge.builder("process.resident.memory.max", () -> 1024 * kib(STATUS, "VmHWM")).baseUnit("bytes")
                    .description("peak resident memory of the daemon's process").register(r);
            boolean cgroup = !Double.isNaN(cgroupLimit());
            Gauge.builder("fastflux.memory.limit", () -> cgroup ? cgroupLimit() : 1024 * kib(MEMINFO, "MemTotal")).baseUnit("bytes")
                    .tag("source", cgroup ? "cgroup" : "meminfo")
                    .description("the memory the process may use: its cgroup's limit, or the machine's memory when there is none")
                    .register(r);
        }

        /** The value of {@code key} (in kB) in a /proc file of "Key:   123 kB" lines, or NaN. */
        static double kib(Path file, String key) {
            try {
                for (String line : Files.readAllLines(file)) {
                    if (line.startsWith(key + ":")) return Double.parseDouble(line.substring(key.length() + 1).trim().split("\\s+")[0]);
                }
            } catch (IOException | RuntimeException e) {
                return Double.NaN;
            }
            return Double.NaN;
        }

        /** The cgroup's memory limit in bytes, or NaN when none is set ("max", or v1's "no limit" near 2^63). */
        static double cgroupLimit() {
            for (Path p : new Path[] {CGROUP2, CGROUP1}) {
                try {
                    String v = Files.readString(p).trim();
                    if (v.equals("max")) return Double.NaN;
                    double bytes = Double.parseDouble(v);
                    return bytes >= (1L << 60) ? Double.NaN : bytes;
                } catch (IOException | RuntimeException e) {
                    // not this cgroup version
                }
            }
            return Double.NaN;
        }
    }
}
