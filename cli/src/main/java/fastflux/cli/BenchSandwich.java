package fastflux.cli;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.BlockId;
import fastflux.model.FluxModel;
import fastflux.model.Module;
import fastflux.model.ReplacedDoubleBlock;
import fastflux.model.ReplacedSingleBlock;
import fastflux.pruning.AffineMap;
import fastflux.pruning.BlockFitter;
import fastflux.pruning.Calibration;
import fastflux.pruning.PromptCalibrationSource;
import fastflux.pruning.SandwichTrainer;
import fastflux.pruning.StreamingSandwich;
import fastflux.shapes.ShapesModel;
import fastflux.streams.CalibrationPipeline;
import fastflux.streams.SandwichTrainerActor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.stream.Materializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code fastflux bench sandwich}: one sandwich trained by the trainer actor fed by the calibration pipeline, over N
 * and 4×N prompts, each in a fresh JVM, printing each run's peak RSS (VmHWM) and the bytes its spill reached. The pair
 * buffer and the spill's bound are small, so both runs spill and the larger one keeps a sample: memory follows the
 * buffer and the window, disk the spill's bound, not the number of prompts.
 */
@Command(name = "sandwich", mixinStandardHelpOptions = true, sortOptions = false,
        description = "one sandwich trained by the trainer actor fed by the calibration stream, over N and 4 x N prompts, "
                + "each in a fresh JVM: peak RSS",
        footer = "prints per run: prompts, pairs, kept (for further passes), spilled_mb, most_ahead (bound), seconds, "
                + "rss_after_load_mb, peak_rss_mb, heap_committed_mb")
final class BenchSandwich implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR", description = "a Shapes model (default: the embedded models/shapes-tiny)")
    Path dir;

    @Option(names = "--prompts", paramLabel = "N", defaultValue = "8",
            description = "calibration prompts of the first run; the second runs 4 x N (default ${DEFAULT-VALUE})")
    int prompts;

    @Option(names = "--block", paramLabel = "NAME", defaultValue = "single_blocks.2",
            description = "the block replaced (by a zero linear) and sandwich-trained (default ${DEFAULT-VALUE})")
    String block;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "10", description = "sampler steps (default ${DEFAULT-VALUE}, as prune)")
    int steps;

    @Option(names = "--st-steps", paramLabel = "N", defaultValue = "40", description = "training steps of 16 pairs (default ${DEFAULT-VALUE})")
    int stSteps;

    @Option(names = "--buffer-bytes", paramLabel = "BYTES", defaultValue = "8388608",
            description = "pairs held in memory; the rest spill (default ${DEFAULT-VALUE}, 8 MiB)")
    long bufferBytes;

    @Option(names = "--window-bytes", paramLabel = "BYTES", defaultValue = "1048576",
            description = "pairs the first pass may hold back (default ${DEFAULT-VALUE}, 1 MiB)")
    long windowBytes;

    @Option(names = "--spill-bytes", paramLabel = "BYTES", defaultValue = "16777216",
            description = "pairs the spill keeps for further passes (default ${DEFAULT-VALUE}, 16 MiB)")
    long spillBytes;

    @Option(names = "--heap", paramLabel = "SIZE", defaultValue = "2g", description = "-Xmx of each run's JVM (default ${DEFAULT-VALUE})")
    String heap;

    @Option(names = "--one-run", description = "run N prompts in this JVM only")
    boolean oneRun;

    @Override
    public Integer call() throws Exception {
        Path dir = this.dir != null ? this.dir : ShapesModel.defaultDir();
        if (prompts < 1 || steps < 1 || stSteps < 1 || bufferBytes < 0 || windowBytes < 0 || spillBytes < 0) {
            throw new UsageException("--prompts, --steps and --st-steps must be >= 1, the byte counts >= 0");
        }
        if (oneRun) {
            oneRun(dir);
            return 0;
        }
        System.out.printf("bench sandwich: %s, block %s, 2 seeds, %d steps, %d training steps of 16, buffer %d B, window %d B, "
                        + "spill %d B, -Xmx%s, OMP_NUM_THREADS=%s%n", dir, block, steps, stSteps, bufferBytes, windowBytes, spillBytes, heap,
                System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"));
        List<Map<String, String>> runs = new ArrayList<>();
        for (int n : new int[] {prompts, 4 * prompts}) {
            List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java")));
            cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
            cmd.addAll(List.of("-Xmx" + heap, "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"),
                    Main.class.getName(), "bench", "sandwich", "--one-run", "--model", dir.toString(), "--prompts",
                    Integer.toString(n), "--block", block, "--steps", Integer.toString(steps), "--st-steps",
                    Integer.toString(stSteps), "--buffer-bytes", Long.toString(bufferBytes), "--window-bytes",
                    Long.toString(windowBytes), "--spill-bytes", Long.toString(spillBytes)));
            runs.add(BenchStream.child(cmd, n));
        }
        System.out.println("prompts  pairs   kept  spilled_mb  most_ahead (bound)  seconds  rss_after_load_mb  peak_rss_mb  heap_committed_mb");
        for (Map<String, String> r : runs) {
            System.out.printf("%7s  %5s  %5s  %10s  %10s (%s)  %7s  %17s  %11s  %17s%n", r.get("prompts"), r.get("pairs"),
                    r.get("kept"), r.get("spilled_mb"), r.get("most_ahead"), r.get("bound"), r.get("seconds"), r.get("rss_after_load_mb"),
                    r.get("peak_rss_mb"), r.get("heap_committed_mb"));
        }
        double p1 = Double.parseDouble(runs.get(0).get("peak_rss_mb"));
        double p4 = Double.parseDouble(runs.get(1).get("peak_rss_mb"));
        System.out.printf("peak_rss_ratio_4x %.3f%n", p4 / p1);
        return 0;
    }

    /** One size in this JVM; prints key-value lines the parent reads. */
    private void oneRun(Path dir) throws Exception {
        ActorSystem system = ActorSystem.create("bench-sandwich");
        Path spill = Files.createTempDirectory("fastflux-bench-sandwich-");
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = ShapesModel.load(dir, m);
            FluxModel flux = model.flux();
            BlockId id = BlockId.parse(block, flux.config());
            Module original = replaceByZeroLinear(flux, id, m);
            Calibration cal = new Calibration(flux, PromptCalibrationSource.sample(model, prompts,
                    Calibration.Options.DEFAULT_PROMPT_SEED), new Calibration.Options(8, new long[] {0, 1}, steps, 4f));
            double rssAfterLoad = BenchStream.procStatusMb("VmRSS");
            SandwichTrainer.Options o = SandwichTrainer.Options.defaults().toBuilder().lora(2, 2f).steps(stSteps).batchSize(16)
                    .lr(1e-3).linearLr(1e-4).buffer(bufferBytes, spill).window(windowBytes).spill(spillBytes).build();
            CalibrationPipeline pipeline = new CalibrationPipeline(Materializer.matFromSystem(system), CalibrationPipeline.Options.defaults());
            SandwichTrainer.Feed actors = SandwichTrainerActor.feed(system);
            StreamingSandwich[] seen = new StreamingSandwich[1];
            long t0 = System.nanoTime();
            SandwichTrainer.Result r = SandwichTrainer.train(flux, id, original, cal, null, o, m, SandwichTrainer.FreeSpace.SYSTEM,
                    pipeline, trainer -> {
                        seen[0] = trainer;
                        return actors.open(trainer);
                    });
            double seconds = (System.nanoTime() - t0) / 1e9;
            long pairBytes = seen[0].layout().bytes();
            System.out.println("prompts " + prompts);
            System.out.println("pairs " + r.pairs());
            System.out.println("kept " + seen[0].keptPairs());
            System.out.printf("spilled_mb %.1f%n", r.spilledBytes() / 1048576.0);
            System.out.println("most_ahead " + seen[0].mostAhead());
            System.out.println("bound " + StreamingSandwich.bound(o.window(seen[0].layout()), o.batchSize(), 8));
            System.out.printf("seconds %.1f%n", seconds);
            System.out.printf("pair_kb %.1f%n", pairBytes / 1024.0);
            System.out.printf("rss_after_load_mb %.1f%n", rssAfterLoad);
            System.out.printf("peak_rss_mb %.1f%n", BenchStream.procStatusMb("VmHWM"));
            System.out.printf("heap_committed_mb %.1f%n", Runtime.getRuntime().totalMemory() / 1048576.0);
        } finally {
            system.terminate();
            Files.deleteIfExists(spill);
        }
    }

    /** Puts a zero linear (the block's shortcut, with a linear to train) in the block's slot; returns the original. */
    private static Module replaceByZeroLinear(FluxModel flux, BlockId id, NDManager m) {
        int h = flux.config().hiddenSize();
        AffineMap zero = new AffineMap(h, h, new float[h * h], new float[h]);
        if (id.kind() == BlockId.Kind.DOUBLE) {
            ReplacedDoubleBlock r = new ReplacedDoubleBlock(id.name() + ".", h);
            BlockFitter.setLinear(r.imgLinear(), zero, m, DataType.FLOAT32);
            BlockFitter.setLinear(r.txtLinear(), zero, m, DataType.FLOAT32);
            return flux.setDouble(id.index(), r);
        }
        ReplacedSingleBlock r = new ReplacedSingleBlock(id.name() + ".", h);
        BlockFitter.setLinear(r.linear(), zero, m, DataType.FLOAT32);
        return flux.setSingle(id.index(), r);
    }
}
