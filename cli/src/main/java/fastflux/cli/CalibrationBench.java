package fastflux.cli;

import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.pruning.BlockFitter;
import fastflux.pruning.Calibration;
import fastflux.pruning.PromptCalibrationSource;
import fastflux.shapes.ShapesModel;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code fastflux bench calibration}: peak resident memory of the streamed least-squares collection for one
 * block against the number of calibration prompts. The claim it checks is that calibration memory does not grow
 * with the prompts (batches are computed, accumulated and freed one at a time), so each count runs in a fresh JVM
 * with this JVM's options, and the peak (VmHWM of /proc/self/status) of each is compared.
 */
@Command(name = "calibration", mixinStandardHelpOptions = true, sortOptions = false,
        description = "peak RSS of one block's least-squares collection against the number of calibration prompts",
        footer = "prints per count: prompts, items, seconds, peak_rss_kb (VmHWM), rss_after_load_kb; then the ratio of the "
                + "last count's peak to the first's")
final class CalibrationBench implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR", description = "a Shapes model (default: the embedded models/shapes-tiny)")
    Path dir;

    @Option(names = "--calib-prompts", paramLabel = "N[,M..]", defaultValue = "64,640",
            description = "calibration prompts (x 2 noise seeds); with two or more counts each runs in a fresh JVM with "
                    + "this JVM's options (default ${DEFAULT-VALUE})")
    String counts;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "2",
            description = "sampler steps per trajectory (default ${DEFAULT-VALUE}: shorter runs, the same batches)")
    int steps;

    @Option(names = "--block", paramLabel = "NAME", defaultValue = "single_blocks.2",
            description = "the block whose least squares are collected (default ${DEFAULT-VALUE})")
    String block;

    @Override
    public Integer call() throws Exception {
        Path dir = this.dir != null ? this.dir : ShapesModel.defaultDir();
        List<Integer> n = new ArrayList<>();
        for (String s : counts.split(",")) {
            try {
                n.add(Integer.parseInt(s.trim()));
            } catch (NumberFormatException e) {
                throw new UsageException("--calib-prompts must be integers, got '" + counts + "'");
            }
        }
        if (steps < 1 || n.stream().anyMatch(x -> x < 1)) throw new UsageException("counts and --steps must be >= 1");
        if (n.size() == 1) return inProcess(dir, n.get(0), steps, block);
        List<Long> peaks = new ArrayList<>();
        List<Long> heaps = new ArrayList<>();
        for (int count : n) peaks.add(child(dir, count, steps, block, heaps));
        System.out.printf("jvm_options %s%n", String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments()));
        for (int i = 0; i < n.size(); i++) {
            System.out.printf("calib_prompts %d peak_rss_kb %d heap_committed_peak_kb %d%n", n.get(i), peaks.get(i),
                    i < heaps.size() ? heaps.get(i) : -1);
        }
        System.out.printf("peak_rss_ratio %.3f (%d prompts / %d prompts)%n", (double) peaks.get(peaks.size() - 1) / peaks.get(0),
                n.get(n.size() - 1), n.get(0));
        return 0;
    }

    /** One count in this JVM: model, calibration stream, the block's accumulators and solve. */
    static int inProcess(Path dir, int prompts, int steps, String blockName) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = ShapesModel.load(dir, m);
            BlockId block = BlockId.parse(blockName, model.flux().config());
            long afterLoad = vmKb("VmHWM");
            Calibration cal = new Calibration(model.flux(), PromptCalibrationSource.sample(model, prompts,
                    Calibration.Options.DEFAULT_PROMPT_SEED), Calibration.Options.defaults().withSteps(steps));
            long t0 = System.nanoTime();
            BlockFitter.FittedBlock f = BlockFitter.fit(cal, List.of(block), BlockFitter.Options.defaults(), m).get(0);
            double s = (System.nanoTime() - t0) / 1e9;
            System.out.printf("bench calibration: %s, block %s, %d prompts x %d seeds = %d items, %d batches, %d steps%n", dir,
                    block.name(), prompts, Calibration.Options.DEFAULT_SEEDS.length, cal.items(), cal.batches(0, prompts), steps);
            System.out.printf("residuals %s%n", f.residuals());
            System.out.printf("seconds %.1f%n", s);
            System.out.printf("rss_after_load_kb %d%n", afterLoad);
            // The Java heap's share of the peak: the JVM grows its heap (up to -Xmx) with the garbage of more batches,
            // which is the collector's sizing, not calibration state; native memory is the rest.
            long heapPeak = 0;
            for (java.lang.management.MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
                if (pool.getType() == java.lang.management.MemoryType.HEAP) heapPeak += pool.getPeakUsage().getCommitted();
            }
            System.out.printf("heap_committed_peak_kb %d%n", heapPeak / 1024);
            // Direct buffers still held at the end: native memory that only a GC releases (Tensors.create frees its
            // own at once; what remains is the model's). ND4J's CPU buffers are not counted by any Java-side meter.
            long gcs = 0;
            for (java.lang.management.GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
                gcs += Math.max(0, gc.getCollectionCount());
            }
            for (java.lang.management.BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(
                    java.lang.management.BufferPoolMXBean.class)) {
                if (pool.getName().equals("direct")) {
                    System.out.printf("direct_buffers %d direct_buffer_kb %d%n", pool.getCount(), pool.getMemoryUsed() / 1024);
                }
            }
            System.out.printf("gc_count %d%n", gcs);
            System.out.printf("peak_rss_kb %d%n", vmKb("VmHWM"));
        }
        return 0;
    }

    /** Runs one count in a fresh JVM with this one's options and class path; returns its peak RSS in kB. */
    private static long child(Path dir, int prompts, int steps, String block, List<Long> heap)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "bench", "calibration",
                "--model", dir.toString(), "--calib-prompts", Integer.toString(prompts), "--steps", Integer.toString(steps),
                "--block", block));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        long peak = -1;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                System.out.println("  [" + prompts + "] " + line);
                if (line.startsWith("peak_rss_kb ")) peak = Long.parseLong(line.substring(12).trim());
                if (line.startsWith("heap_committed_peak_kb ")) heap.add(Long.parseLong(line.substring(23).trim()));
            }
        }
        int rc = p.waitFor();
        if (rc != 0 || peak < 0) throw new IllegalStateException("the run with " + prompts + " prompts failed (exit " + rc + ")");
        return peak;
    }

    /** A {@code Vm*} line of /proc/self/status in kB (-1 where there is no /proc). */
    static long vmKb(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key + ":")) return Long.parseLong(line.substring(key.length() + 1).replace("kB", "").trim());
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }
}
