package fastflux.pipeline.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.FluxModel;
import fastflux.pipeline.FluxPipeline;
import fastflux.pipeline.PackedLatents;
import fastflux.pipeline.clip.ClipTextEncoder;
import fastflux.pipeline.clip.ClipTokenizer;
import fastflux.pipeline.t5.T5Encoder;
import fastflux.pipeline.t5.T5Tokenizer;
import fastflux.pipeline.vae.AutoEncoder;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * FLUX.1 at its real width with reduced depth ({@link PipelineAccounting#realWidth()}), random bf16 weights in a
 * diffusers folder, run through the pipeline's stages one by one so each is timed, set against the analytic FLOPs
 * and this JVM's fp32 GEMM rate, and its peak memory set against the accounting's prediction.
 *
 * @param dir where the folder is written
 * @param tokenizers a folder with {@code tokenizer/} and {@code tokenizer_2/} to copy
 * @param width image width (a multiple of 16)
 * @param height image height
 * @param steps Euler steps
 * @param t5Length T5 tokens
 * @param seed weights and noise
 */
public record RealWidthBench(Path dir, Path tokenizers, int width, int height, int steps, int t5Length, long seed) {
    public static final String PROMPT = "a photo of a red fox in the snow";
    private static final double STD = 0.02;
    private static final int GEMM_N = 1024;

    /** Writes the folder, runs one generation, prints the report to {@code out}; deletes the folder unless {@code keep}. */
    public void run(PrintStream out, boolean keep) {
        PipelineAccounting a = PipelineAccounting.realWidth();
        long[] base = RssSampler.read();
        long t0 = System.nanoTime();
        RandomFluxDirectory.write(dir, a, tokenizers, seed, STD);
        out.printf("wrote %s (bf16, seed %d, std %.2f) in %.1f s%n", dir, seed, STD, secs(t0));
        try {
            measure(a, out, base);
        } finally {
            if (!keep) delete(dir);
        }
    }

    private void measure(PipelineAccounting a, PrintStream out, long[] start) {
        FluxPipeline pipeline = FluxPipeline.open(dir);
        List<String> prompts = List.of(PROMPT);
        List<Row> rows = new ArrayList<>();
        double gemm;
        long baseAnonKb;
        try (RssSampler rss = new RssSampler(5); NDManager m = NDManager.newBaseManager()) {
            gemm = fastflux.model.ForwardTimer.gemmGflops(m, GEMM_N);
            System.gc();
            baseAnonKb = RssSampler.read()[0];
            long total = System.nanoTime();

            rss.stage("tokenize");
            long t = System.nanoTime();
            long[][] t5Ids;
            long[][] clipIds;
            try (T5Tokenizer tok = T5Tokenizer.load(dir.resolve("tokenizer_2"), t5Length);
                 ClipTokenizer clipTok = ClipTokenizer.load(dir.resolve("tokenizer"))) {
                t5Ids = tok.encode(prompts);
                clipIds = clipTok.encode(prompts);
            }
            rows.add(new Row("tokenize", secs(t), 0, 0));

            NDArray txt;
            NDArray y;
            rss.stage("T5");
            try (NDManager scope = m.newSubManager()) {
                t = System.nanoTime();
                T5Encoder t5 = T5Encoder.load(dir.resolve("text_encoder_2"), scope, DataType.FLOAT32);
                double load = secs(t);
                t = System.nanoTime();
                NDArray hidden = t5.forward(t5Ids, scope);
                txt = hidden.toType(DataType.FLOAT32, true);
                txt.getFloat(0, 0, 0);
                txt.attach(m);
                rows.add(new Row("T5", secs(t), load, a.t5Flops(t5Ids[0].length)));
            }
            rss.stage("CLIP");
            try (NDManager scope = m.newSubManager()) {
                t = System.nanoTime();
                ClipTextEncoder clip = ClipTextEncoder.load(dir.resolve("text_encoder"), scope);
                double load = secs(t);
                t = System.nanoTime();
                try (clip; ClipTextEncoder.Output o = clip.forward(clipIds, scope)) {
                    y = o.pooled().duplicate();
                    y.getFloat(0, 0);
                    y.attach(m);
                }
                rows.add(new Row("CLIP", secs(t), load, a.clipFlops()));
            }

            rss.stage("transformer");
            NDArray noise = pipeline.noise(new long[] {seed}, width, height, m);
            int lh = pipeline.latentSide(height), lw = pipeline.latentSide(width);
            int imgTokens = (lh / 2) * (lw / 2);
            long txtTokens = txt.getShape().get(1);
            NDArray packed;
            double[] stepSecs = new double[steps];
            try (FluxPipeline.Conditioning c = new FluxPipeline.Conditioning(txt, y); NDManager weights = m.newSubManager()) {
                t = System.nanoTime();
                FluxModel model = pipeline.checkpoint().load(weights, DataType.FLOAT32);
                double load = secs(t);
                long[] last = {System.nanoTime()};
                packed = pipeline.denoise(model, c, noise, steps, FluxPipeline.DEV_GUIDANCE, (step, latents) -> {
                    latents.getFloat(0, 0, 0);
                    long now = System.nanoTime();
                    stepSecs[step] = (now - last[0]) / 1e9;
                    last[0] = now;
                });
                double sum = 0;
                for (double s : stepSecs) sum += s;
                rows.add(new Row("transformer/step", sum / steps, load / steps, a.transformerFlops(imgTokens, (int) txtTokens)));
            }

            rss.stage("decode");
            try (NDManager scope = m.newSubManager()) {
                packed.attach(scope);
                noise.attach(scope);
                t = System.nanoTime();
                AutoEncoder ae = AutoEncoder.loadDiffusers(dir.resolve("vae"), scope, DataType.FLOAT32);
                double load = secs(t);
                t = System.nanoTime();
                NDArray image = ae.decode(PackedLatents.unpack(packed, lh, lw));
                float[] px = image.toFloatArray();
                rows.add(new Row("decode", secs(t), load, a.decodeFlops(lh, lw)));
                if (!Float.isFinite(px[0]) || !Float.isFinite(px[px.length - 1])) out.println("warning: the image is not finite");
            }
            double totalSecs = secs(total);
            rss.stage("end");
            report(out, a, rows, stepSecs, gemm, totalSecs, rss, baseAnonKb, imgTokens);
        }
    }

    private record Row(String stage, double secs, double loadSecs, long flops) {}

    private void report(PrintStream out, PipelineAccounting a, List<Row> rows, double[] stepSecs, double gemm,
                        double totalSecs, RssSampler rss, long baseAnonKb, int imgTokens) {
        out.printf("bench pipeline: FLUX.1-dev width (hidden %d, %d heads), %d double + %d single blocks, T5 %d layers; "
                        + "%dx%d, %d steps, %d image + %d T5 tokens, fp32 compute, OMP_NUM_THREADS=%s%n",
                a.flux().hiddenSize(), a.flux().numHeads(), a.flux().depth(), a.flux().depthSingleBlocks(),
                a.t5().numLayers(), width, height, steps, imgTokens, t5Length,
                System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"));
        out.printf("gemm_gflop_per_s %.1f (fp32 %d^3 matMul, median of 7)%n", gemm, GEMM_N);
        out.println();
        out.println("| stage | load s | compute s | GFLOP | GFLOP/s | % of GEMM |");
        out.println("|---|---|---|---|---|---|");
        for (Row r : rows) {
            if (r.flops() == 0) {
                out.printf("| %s | - | %.3f | - | - | - |%n", r.stage(), r.secs());
                continue;
            }
            double rate = r.flops() / r.secs() / 1e9;
            out.printf("| %s | %.1f | %.2f | %.1f | %.1f | %.0f %% |%n", r.stage(), r.loadSecs(), r.secs(), r.flops() / 1e9,
                    rate, 100 * rate / gemm);
        }
        out.printf("| total (loads included) | | %.1f | | | |%n", totalSecs);
        StringBuilder steps = new StringBuilder();
        for (double s : stepSecs) steps.append(String.format(" %.2f", s));
        out.println("transformer steps s:" + steps);
        out.println("(transformer/step's load column is the transformer's load time / steps)");

        long[] now = RssSampler.read();
        out.println();
        out.println("| memory | GiB |");
        out.println("|---|---|");
        out.printf("| peak RssAnon (sampled every 5 ms) | %.2f |%n", gibKb(rss.peakAnonKb()));
        out.printf("| peak RssFile | %.2f |%n", gibKb(rss.peakFileKb()));
        out.printf("| VmHWM (kernel's peak RSS) | %.2f |%n", gibKb(now[2]));
        out.printf("| RssAnon before the first stage (JVM, libtorch, GEMM test) | %.2f |%n", gibKb(baseAnonKb));
        for (Map.Entry<String, long[]> e : rss.stagePeaks().entrySet()) {
            if (e.getKey().equals("start") || e.getKey().equals("end")) continue;
            out.printf("| %s stage: peak RssAnon / RssFile | %.2f / %.2f |%n", e.getKey(), gibKb(e.getValue()[0]),
                    gibKb(e.getValue()[1]));
        }

        out.println();
        out.println("FLUX.1-dev (19 + 38 blocks, T5-XXL, CLIP-L, autoencoder) at 1024x1024, 512 T5 tokens, by the same accounting:");
        out.println();
        out.println("| stage | params (M) | fp32 weights GiB | fp32 peak GiB | fp16/bf16 weights GiB | fp16/bf16 peak GiB |");
        out.println("|---|---|---|---|---|---|");
        PipelineAccounting dev = PipelineAccounting.fluxDev();
        List<PipelineAccounting.Stage> f32 = dev.stages(1024, 1024, FluxPipeline.DEV_MAX_SEQUENCE_LENGTH, 4);
        List<PipelineAccounting.Stage> f16 = dev.stages(1024, 1024, FluxPipeline.DEV_MAX_SEQUENCE_LENGTH, 2);
        long all32 = 0, all16 = 0;
        for (int i = 0; i < f32.size(); i++) {
            PipelineAccounting.Stage s = f32.get(i), h = f16.get(i);
            all32 += s.weightBytes();
            all16 += h.weightBytes();
            out.printf("| %s | %.0f | %.2f | %.2f | %.2f | %.2f |%n", s.name(), s.params() / 1e6, gib(s.weightBytes()),
                    gib(s.bytes()), gib(h.weightBytes()), gib(h.bytes()));
        }
        out.printf("| pipeline peak (one stage at a time) | | | %.2f | | %.2f |%n", gib(PipelineAccounting.peak(f32).bytes()),
                gib(PipelineAccounting.peak(f16).bytes()));
        out.printf("| every stage resident at once (weights) | | %.2f | | %.2f | |%n", gib(all32), gib(all16));

        List<PipelineAccounting.Stage> mine = a.stages(width, height, t5Length, 4);
        PipelineAccounting.Stage peak = PipelineAccounting.peak(mine);
        double predicted = gib(peak.bytes()) + gibKb(baseAnonKb);
        double measured = gibKb(rss.peakAnonKb());
        out.println();
        out.printf("this run, predicted: %s stage %.2f GiB (weights %.2f + activations %.2f) + %.2f GiB before the first "
                        + "stage = %.2f GiB%n", peak.name(), gib(peak.bytes()), gib(peak.weightBytes()),
                gib(peak.activationBytes()), gibKb(baseAnonKb), predicted);
        out.printf("this run, measured peak RssAnon: %.2f GiB; measured / predicted = %.2f%n", measured, measured / predicted);
    }

    private static double gibKb(long kb) {
        return kb / (1024.0 * 1024.0);
    }

    private static double gib(long bytes) {
        return bytes / (double) (1L << 30);
    }

    private static double secs(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    private static void delete(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) all.sorted(Comparator.reverseOrder())::iterator) Files.delete(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + dir + ": " + e.getMessage(), e);
        }
    }
}
