package fastflux.cli;

import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.pruning.BlockFitter;
import fastflux.pruning.Calibration;
import fastflux.pruning.PartialPrecision;
import fastflux.pruning.PromptCalibrationSource;
import fastflux.shapes.ShapesModel;
import fastflux.streams.CalibrationPipeline;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.stream.Materializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code fastflux bench stream}: BRLL's calibration through the streams pipeline over N and 10×N prompts, each
 * in a fresh JVM with this JVM's options and the heap limit asked for, printing each run's peak RSS (VmHWM).
 * Bounded stages should make the two peaks nearly equal: memory follows the bounds, not the number of prompts.
 */
@Command(name = "stream", mixinStandardHelpOptions = true, sortOptions = false,
        description = "BRLL's calibration through the streams pipeline over N and 10 x N prompts, each in a fresh JVM: peak RSS",
        footer = "prints per run: prompts, batches, seconds, max_in_flight (bound), max_batch_mb, rss_after_load_mb, "
                + "peak_rss_mb (VmHWM of that JVM), heap_committed_mb (the Java heap's share of it at the end)")
final class BenchStream implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR", description = "a Shapes model (default: the embedded models/shapes-tiny)")
    Path dir;

    @Option(names = "--prompts", paramLabel = "N", defaultValue = "8",
            description = "calibration prompts of the first run; the second runs 10 x N (default ${DEFAULT-VALUE})")
    int prompts;

    @Option(names = "--block", paramLabel = "NAME", defaultValue = "single_blocks.2",
            description = "the block whose least-squares sums are accumulated (default ${DEFAULT-VALUE})")
    String block;

    @Option(names = "--seeds", paramLabel = "S", defaultValue = "2", description = "noise seeds per prompt (default ${DEFAULT-VALUE})")
    int seeds;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "10", description = "sampler steps (default ${DEFAULT-VALUE}, as prune)")
    int steps;

    @Option(names = "--batch", paramLabel = "B", defaultValue = "8", description = "items per batch (default ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--shards", paramLabel = "K", defaultValue = "1",
            description = "contiguous block ranges the model is split into (default ${DEFAULT-VALUE})")
    int shards;

    @Option(names = "--parallelism", paramLabel = "P", defaultValue = "2", description = "trajectories at once (default ${DEFAULT-VALUE})")
    int parallelism;

    @Option(names = "--buffer", paramLabel = "N", defaultValue = "2",
            description = "denoised batches waiting for the sink (default ${DEFAULT-VALUE})")
    int buffer;

    @Option(names = "--heap", paramLabel = "SIZE", defaultValue = "2g", description = "-Xmx of each run's JVM (default ${DEFAULT-VALUE})")
    String heap;

    @Option(names = "--one-run", description = "run N prompts in this JVM only")
    boolean oneRun;

    @Override
    public Integer call() {
        Path dir = this.dir != null ? this.dir : ShapesModel.defaultDir();
        CalibrationPipeline.Options o = new CalibrationPipeline.Options(shards, parallelism, buffer);
        if (prompts < 1 || seeds < 1 || steps < 1 || batch < 1) {
            throw new UsageException("--prompts, --seeds, --steps and --batch must be >= 1");
        }
        if (oneRun) {
            oneRun(dir, prompts, block, seeds, steps, batch, o);
            return 0;
        }
        System.out.printf("bench stream: %s, block %s, %d seeds, %d steps, batch %d, shards %d, parallelism %d, buffer %d,"
                        + " -Xmx%s, OMP_NUM_THREADS=%s%n", dir, block, seeds, steps, batch, o.shards(), o.parallelism(),
                o.buffer(), heap, System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"));
        List<Map<String, String>> runs = new ArrayList<>();
        for (int n : new int[] {prompts, 10 * prompts}) {
            // this JVM's options (the launcher's -Xms among them), then the heap limit asked for, which wins
            List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java")));
            cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
            cmd.addAll(List.of("-Xmx" + heap, "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"),
                    Main.class.getName(), "bench", "stream", "--one-run", "--model", dir.toString(), "--prompts",
                    Integer.toString(n), "--block", block,
                    "--seeds", Integer.toString(seeds), "--steps", Integer.toString(steps), "--batch", Integer.toString(batch),
                    "--shards", Integer.toString(o.shards()), "--parallelism", Integer.toString(o.parallelism()),
                    "--buffer", Integer.toString(o.buffer())));
            runs.add(child(cmd, n));
        }
        System.out.println("prompts  batches  seconds  max_in_flight  max_batch_mb  rss_after_load_mb  peak_rss_mb  heap_committed_mb");
        for (Map<String, String> r : runs) {
            System.out.printf("%7s  %7s  %7s  %9s (%s)  %12s  %17s  %11s  %17s%n", r.get("prompts"), r.get("batches"), r.get("seconds"),
                    r.get("max_in_flight"), r.get("bound"), r.get("max_batch_mb"), r.get("rss_after_load_mb"), r.get("peak_rss_mb"),
                    r.get("heap_committed_mb"));
        }
        double p1 = Double.parseDouble(runs.get(0).get("peak_rss_mb"));
        double p10 = Double.parseDouble(runs.get(1).get("peak_rss_mb"));
        System.out.printf("peak_rss_ratio_10x %.3f%n", p10 / p1);
        return 0;
    }

    /** One size in this JVM; prints key-value lines the parent reads. */
    private static void oneRun(Path dir, int prompts, String block, int seeds, int steps, int batch,
                               CalibrationPipeline.Options o) {
        long[] seedList = new long[seeds];
        for (int i = 0; i < seeds; i++) seedList[i] = i;
        ActorSystem system = ActorSystem.create("bench-stream");
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = ShapesModel.load(dir, m);
            BlockId id = BlockId.parse(block, model.flux().config());
            Calibration cal = new Calibration(model.flux(), PromptCalibrationSource.sample(model, prompts,
                    Calibration.Options.DEFAULT_PROMPT_SEED), new Calibration.Options(batch, seedList, steps, 4f));
            double rssAfterLoad = procStatusMb("VmRSS");
            CalibrationPipeline pipeline = new CalibrationPipeline(Materializer.matFromSystem(system), o);
            long t0 = System.nanoTime();
            try (BlockFitter fitter = new BlockFitter(model.flux().config(), List.of(id),
                    new BlockFitter.Options(1e-4, 0, PartialPrecision.AUTO))) {
                pipeline.run(cal, fitter, fitter.blocks());
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            CalibrationPipeline.Stats s = pipeline.lastStats();
            System.out.println("prompts " + prompts);
            System.out.println("batches " + s.batches());
            System.out.printf("seconds %.1f%n", seconds);
            System.out.println("max_in_flight " + s.maxInFlight());
            System.out.println("bound " + o.bound());
            System.out.printf("max_batch_mb %.1f%n", s.maxBatchBytes() / 1048576.0);
            System.out.printf("rss_after_load_mb %.1f%n", rssAfterLoad);
            System.out.printf("peak_rss_mb %.1f%n", procStatusMb("VmHWM"));
            System.out.printf("heap_committed_mb %.1f%n", Runtime.getRuntime().totalMemory() / 1048576.0);
        } finally {
            system.terminate();
        }
    }

    static Map<String, String> child(List<String> cmd, int prompts) {
        try {
            Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            Map<String, String> out = new TreeMap<>();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    String[] kv = line.trim().split(" ", 2);
                    if (kv.length == 2) out.put(kv[0], kv[1]);
                }
            }
            int rc = p.waitFor();
            if (rc != 0 || !out.containsKey("peak_rss_mb")) {
                throw new IllegalStateException("bench: the run over " + prompts + " prompts failed with status " + rc);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** A memory line of /proc/self/status (VmRSS, VmHWM), in MiB; NaN where there is none (not Linux). */
    static double procStatusMb(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key + ":")) {
                    return Long.parseLong(line.substring(key.length() + 1).trim().split("\\s+")[0]) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: no figure
        }
        return Double.NaN;
    }
}
