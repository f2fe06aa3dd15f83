package fastflux.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.FlopCount;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.ModelDir;
import fastflux.model.ReferenceForward;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code fastflux bench}: {@code forward} times the transformer forward and sets it against the analytic FLOP count
 * ({@link FlopCount}) and this JVM's fp32 GEMM rate, so "how fast" reads as "how close to matmul speed";
 * {@code stream} and {@code calibration} measure calibration's peak memory.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, synopsisSubcommandLabel = "forward|pipeline|stream|sandwich|calibration",
        description = "bench forward: forward time vs the fp32 GEMM rate; bench pipeline: FLUX.1 at its real width, stage by "
                + "stage; bench stream / sandwich / calibration: peak RSS vs calibration size",
        subcommands = {BenchCommand.Forward.class, BenchCommand.Pipeline.class, BenchStream.class, BenchSandwich.class,
                CalibrationBench.class})
final class BenchCommand implements Callable<Integer> {
    /** The GEMM the forward is compared with: fp32 [N, N] × [N, N]. */
    static final int GEMM_N = 1024;

    static CommandLine commandLine() {
        return new CommandLine(new BenchCommand());
    }

    @Override
    public Integer call() {
        throw new UsageException("expected the subcommand 'forward', 'pipeline', 'stream' or 'calibration'");
    }

    @Command(name = "pipeline", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"generate with FLUX.1-dev's widths (2 double + 4 single blocks, 2 T5 layers, CLIP-L, the real "
                    + "autoencoder) from random bf16 weights; time each stage against the fp32 GEMM rate and set the peak "
                    + "RSS against the memory accounting", "fastflux bench pipeline [--out DIR] [--keep]"},
            footer = "writes about 4 GB of weights; needs about 7 GiB of memory and a few minutes on 2 cores")
    static final class Pipeline implements Callable<Integer> {
        @Option(names = "--out", paramLabel = "DIR", defaultValue = "out/bench-pipeline",
                description = "where the diffusers folder is written (default ${DEFAULT-VALUE})")
        Path out;

        @Option(names = "--keep", description = "keep the folder afterwards (it is deleted otherwise)")
        boolean keep;

        @Option(names = "--tokenizers", paramLabel = "DIR",
                description = "a folder with tokenizer/ and tokenizer_2/ to copy (default: the pipeline's test fixture "
                        + "under the fastflux home)")
        Path tokenizers;

        @Option(names = "--size", paramLabel = "PX", defaultValue = "256", description = "image side (default ${DEFAULT-VALUE})")
        int size;

        @Option(names = "--steps", paramLabel = "N", defaultValue = "4", description = "Euler steps (default ${DEFAULT-VALUE})")
        int steps;

        @Option(names = "--max-sequence-length", paramLabel = "T", defaultValue = "128",
                description = "T5 tokens (default ${DEFAULT-VALUE}; FLUX.1-dev uses 512)")
        int t5Length;

        @Option(names = "--seed", paramLabel = "S", defaultValue = "0", description = "weights and noise (default ${DEFAULT-VALUE})")
        long seed;

        @Override
        public Integer call() {
            if (size < 16 || size % 16 != 0) throw new UsageException("--size must be a positive multiple of 16");
            if (steps < 1 || t5Length < 1) throw new UsageException("--steps and --max-sequence-length must be >= 1");
            Path tok = tokenizers != null ? tokenizers
                    : Path.of(System.getProperty("fastflux.home", ".")).resolve(FIXTURE_TOKENIZERS);
            new fastflux.pipeline.bench.RealWidthBench(out, tok, size, size, steps, t5Length, seed).run(System.out, keep);
            return 0;
        }
    }

    /** A diffusers folder whose tokenizers the pipeline bench copies. */
    static final String FIXTURE_TOKENIZERS = "pipeline/src/test/resources/fixtures/flux-pipeline-a/diffusers";

    @Command(name = "forward", mixinStandardHelpOptions = true, sortOptions = false,
            description = {"time the transformer forward against the fp32 GEMM rate",
                "fastflux bench forward --model DIR [--inputs FILE] [options]",
                "fastflux bench forward --model-config NAME --random-weights [options]"},
            footer = "prints each run's ms, median_ms, forward_gflop, gflop_per_s, gemm_gflop_per_s (fp32 " + GEMM_N
                    + "^3 matMul), percent_of_gemm")
    static final class Forward implements Callable<Integer> {
        @Option(names = "--model", paramLabel = "DIR", description = "config.json + model.safetensors")
        Path dir;

        @Option(names = "--inputs", paramLabel = "FILE",
                description = "safetensors inputs (img, img_ids, txt, txt_ids, timesteps, y[, guidance]); without it, seeded "
                        + "inputs are generated")
        Path inputs;

        @Option(names = "--model-config", paramLabel = "NAME", completionCandidates = ConfigNames.class,
                description = "a named config (${COMPLETION-CANDIDATES}), with --random-weights")
        String config;

        @Option(names = "--config", hidden = true, paramLabel = "NAME")
        String oldConfig;

        @Option(names = "--random-weights", description = "PyTorch-default random init (seeded) instead of a checkpoint")
        boolean randomWeights;

        @Option(names = "--batch", paramLabel = "B",
                description = "generated inputs: batch (default 1; 64 for a Shapes --model: 32 images x 2 guidance halves, "
                        + "one generation batch)")
        Integer batchGiven;

        @Option(names = "--img-tokens", paramLabel = "L",
                description = "generated inputs: image tokens (default 1024 with --model-config, 64 with --model)")
        Integer imgTokensGiven;

        @Option(names = "--txt-tokens", paramLabel = "T",
                description = "generated inputs: text tokens (default 64 with --model-config, 8 with --model)")
        Integer txtTokensGiven;

        @Option(names = "--runs", paramLabel = "N", defaultValue = "5", description = "timed forwards (default ${DEFAULT-VALUE})")
        int runs;

        @Option(names = "--warmup", paramLabel = "N", defaultValue = "1", description = "untimed forwards first (default ${DEFAULT-VALUE})")
        int warmup;

        @Option(names = "--dtype", paramLabel = "fp32|fp16", defaultValue = "fp32", description = "compute precision (default ${DEFAULT-VALUE})")
        String dtypeName;

        @Option(names = "--seed", paramLabel = "S", defaultValue = "0",
                description = "seed of random weights and generated inputs (default ${DEFAULT-VALUE})")
        long seed;

        @Option(names = "--against", paramLabel = "DIR",
                description = "also time this model (e.g. the unpruned base of a pruned --model) on the same inputs, "
                        + "interleaved run by run, and print both medians and the latency and FLOP ratios (model / against)")
        Path against;

        @Override
        public Integer call() throws Exception {
            if (oldConfig != null) throw new UsageException("--config NAME is now --model-config NAME");
            DataType dtype = Dtypes.parse(dtypeName);
            boolean shapeGiven = batchGiven != null || imgTokensGiven != null || txtTokensGiven != null;
            // A Shapes model's own work: one generation batch of 32 images, both guidance halves (64 rows).
            boolean shapes = dir != null && !ModelDir.companionNamespaces(dir).isEmpty();
            int batch = batchGiven != null ? batchGiven : shapes ? 64 : 1;
            int imgTokens = imgTokensGiven != null ? imgTokensGiven : config != null ? 1024 : 64;
            int txtTokens = txtTokensGiven != null ? txtTokensGiven : config != null ? 64 : 8;
            if ((dir == null) == (config == null)) throw new UsageException("give exactly one of --model and --model-config");
            if (config != null && !randomWeights) throw new UsageException("--model-config needs --random-weights");
            if (dir != null && randomWeights) throw new UsageException("--random-weights goes with --model-config, not --model");
            if (inputs != null && shapeGiven) {
                throw new UsageException("--batch/--img-tokens/--txt-tokens describe generated inputs; --inputs has its own");
            }
            if (config != null && inputs != null) throw new UsageException("--inputs needs --model");
            if (against != null && dir == null) throw new UsageException("--against needs --model");
            if (runs < 1 || warmup < 0 || batch < 1 || imgTokens < 1 || txtTokens < 1) {
                throw new UsageException("--runs, --batch and token counts must be >= 1, --warmup >= 0");
            }
            return run(dir, inputs, config, dtype, seed, batch, imgTokens, txtTokens, runs, warmup, against);
        }
    }

    /** The named configs, for help and completion. */
    static final class ConfigNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return FluxParams.names().iterator();
        }
    }

    private static int run(Path dir, Path inputs, String config, DataType dtype, long seed, int batch, int imgTokens,
                           int txtTokens, int runs, int warmup, Path against) {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model;
            String what;
            if (dir != null) {
                model = ModelDir.load(dir, m, dtype, Set.of());
                what = dir.toString();
            } else {
                model = new FluxModel(FluxParams.named(config));
                model.initRandom(m, dtype, seed);
                what = config + " (random weights)";
            }
            FluxParams p = model.config();
            FluxInputs in = inputs != null ? ReferenceForward.readInputs(inputs, m)
                    : FluxInputs.random(p, m, batch, imgTokens, txtTokens, seed);
            batch = (int) in.img().getShape().get(0);
            imgTokens = (int) in.img().getShape().get(1);
            txtTokens = (int) in.txt().getShape().get(1);
            System.out.printf("bench forward: %s, %s, batch %d, %d img + %d txt tokens, OMP_NUM_THREADS=%s%n", what,
                    Dtypes.name(dtype), batch, imgTokens, txtTokens, System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"));

            if (against != null) return compare(model, ModelDir.load(against, m, dtype, Set.of()), against, in, warmup, runs);
            for (int i = 0; i < warmup; i++) timeForward(model, in, m);
            double[] ms = new double[runs];
            for (int i = 0; i < runs; i++) {
                ms[i] = timeForward(model, in, m);
                System.out.printf("run %d: %.1f ms%n", i + 1, ms[i]);
            }
            double median = median(ms);
            long flops = flops(model, in);
            double gflops = flops / median / 1e6;
            double gemm = fastflux.model.ForwardTimer.gemmGflops(m, GEMM_N);
            System.out.printf("median_ms %.1f%n", median);
            System.out.printf("forward_gflop %.3f%n", flops / 1e9);
            System.out.printf("gflop_per_s %.1f%n", gflops);
            System.out.printf("gemm_gflop_per_s %.1f (fp32 %d^3 matMul, median)%n", gemm, GEMM_N);
            System.out.printf("percent_of_gemm %.1f%n", 100 * gflops / gemm);
            return 0;
        }
    }

    /** Forward FLOPs on these inputs; replaced blocks count as their per-token linears, deleted ones as nothing. */
    static long flops(FluxModel model, FluxInputs in) {
        java.util.Map<String, fastflux.model.Replacement.Mode> replaced = new java.util.HashMap<>();
        for (fastflux.model.Replacement r : fastflux.model.PrunedModels.replacements(model)) replaced.put(r.block().name(), r.mode());
        Shape img = in.img().getShape();
        return FlopCount.forward(model.config(), (int) img.get(0), (int) img.get(1), (int) in.txt().getShape().get(1),
                (id, original, q, b, li, lt) -> !replaced.containsKey(id) ? original
                        : replaced.get(id) == fastflux.model.Replacement.Mode.DELETE ? 0 : FlopCount.replacedBlock(q, b, li + lt));
    }

    /** Both models on the same inputs, interleaved round by round (ForwardTimer), so machine drift hits both. */
    static int compare(FluxModel model, FluxModel base, Path baseDir, FluxInputs in, int warmup, int runs) {
        if (!model.config().withDepth(0, 0).equals(base.config().withDepth(0, 0))) {
            throw new UsageException("--against " + baseDir + " has another architecture (" + base.config()
                    + ") than --model (" + model.config() + ")");
        }
        fastflux.model.ForwardTimer.Timing t = fastflux.model.ForwardTimer.time(java.util.List.of(model, base), in, warmup, runs);
        double[] q = t.ratioQuartiles(0, 1);
        long f = flops(model, in), fb = flops(base, in);
        System.out.printf("against %s: %d interleaved rounds after %d warm-up rounds%n", baseDir, runs, warmup);
        System.out.printf("median_ms %.1f%n", t.medianMs(0));
        System.out.printf("against_median_ms %.1f%n", t.medianMs(1));
        System.out.printf("forward_gflop %.3f%n", f / 1e9);
        System.out.printf("against_forward_gflop %.3f%n", fb / 1e9);
        System.out.printf("latency_ratio %.3f (median over rounds of the per-round ratio; quartiles %.3f-%.3f)%n", q[1], q[0], q[2]);
        System.out.printf("ratio_of_medians %.3f%n", t.medianMs(0) / t.medianMs(1));
        System.out.printf("flop_ratio %.3f%n", (double) f / fb);
        return 0;
    }

    /** One inference forward in a sub-manager that is closed with everything it allocated. */
    static double timeForward(FluxModel model, FluxInputs in, NDManager m) {
        try (NDManager scope = m.newSubManager()) {
            in.tempAttach(scope);
            long t0 = System.nanoTime();
            NDArray out = model.forward(in);
            out.toFloatArray(); // forces the result (and so the whole graph) to be materialised
            return (System.nanoTime() - t0) / 1e6;
        }
    }

    static double median(double[] v) {
        return fastflux.model.ForwardTimer.median(v);
    }
}
