package fastflux.cli;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.FlopCount;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.ModelDir;
import fastflux.model.ReferenceForward;
import fastflux.model.io.SafetensorsReader;
import fastflux.pruning.plan.ComputeDtype;
import fastflux.pruning.plan.Devices;
import fastflux.pruning.plan.ForwardProbe;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code fastflux gpu-check} ({@code bin/gpu-check}): whether this machine's libtorch computes FLUX.1 right on a
 * device, and how fast. The reference fixture (flux-tiny-a: the authors' FLUX.1 code on its bf16 weights, shipped in
 * this jar) is run on the device in fp32 (every recorded tensor within 1e-4) and fp16 (the prediction within 2e-2),
 * then one single-stream block at FLUX.1's width is timed. Exit 1 when a parity line fails.
 */
@Command(name = "gpu-check", mixinStandardHelpOptions = true, sortOptions = false,
        description = "parity against the FLUX.1 reference fixture in fp32 and fp16, and a timed block forward, on a device",
        footer = "%nWhat was verified on which device: docs/gpu.md.")
final class GpuCheckCommand implements Callable<Integer> {
    static final String FIXTURE = "flux-tiny-a";
    static final double FP32_BOUND = 1e-4, FP16_BOUND = 2e-2;

    @Option(names = "--device", paramLabel = "DEV", defaultValue = "cuda:0", description = "cpu or cuda:N (default ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--fixtures", paramLabel = "DIR",
            description = "a directory holding " + FIXTURE + "/ (default: the copy in this jar)")
    Path fixtures;

    @Option(names = "--width", paramLabel = "H", defaultValue = "3072", description = "hidden size of the timed block (default ${DEFAULT-VALUE}, FLUX.1's)")
    int width;

    @Option(names = "--tokens", paramLabel = "N", description = "tokens of the timed forward (default 4608 on a GPU, FLUX.1 at 1024², 256 on the CPU)")
    Integer tokens;

    @Option(names = "--runs", paramLabel = "N", defaultValue = "5", description = "timed runs after one warm-up (default ${DEFAULT-VALUE})")
    int runs;

    @Override
    public Integer call() throws Exception {
        Devices devs;
        try {
            devs = Devices.parse(device);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        if (devs.size() != 1) throw new UsageException("--device takes one device, got " + device);
        Device dev = devs.list().get(0);
        if (dev.isGpu() && Engine.getInstance().getGpuCount() <= dev.getDeviceId()) {
            System.out.println("device " + devs + ": not available (libtorch sees " + Engine.getInstance().getGpuCount()
                    + " GPUs; " + Engine.getInstance().getEngineName() + " " + Engine.getInstance().getVersion() + ")");
            return 1;
        }
        System.out.println("engine: " + Engine.getInstance().getEngineName() + " " + Engine.getInstance().getVersion()
                + ", GPUs seen: " + Engine.getInstance().getGpuCount() + ", device: " + devs);
        Path dir = fixtures != null ? fixtures.resolve(FIXTURE) : extract();
        boolean ok = true;
        try (NDManager m = NDManager.newBaseManager(dev)) {
            Map<String, NDArray> r32 = run(dir, DataType.FLOAT32, m);
            double worst = 0;
            String worstName = "";
            try (SafetensorsReader expected = SafetensorsReader.open(dir.resolve("expected.safetensors"))) {
                for (String name : expected.names()) {
                    NDArray got = r32.get(name);
                    if (got == null) throw new IllegalStateException("the forward recorded no " + name);
                    double e = maxAbsDiff(expected.readFloats(name), got.toType(DataType.FLOAT32, false).toFloatArray());
                    if (e > worst) {
                        worst = e;
                        worstName = name;
                    }
                }
                ok &= line("parity fp32", worst, FP32_BOUND, expected.names().size() + " tensors, worst " + worstName);
                long t0 = System.nanoTime();
                Map<String, NDArray> r16 = run(dir, DataType.FLOAT16, m);
                double ms = (System.nanoTime() - t0) / 1e6;
                double e16 = maxAbsDiff(expected.readFloats("pred"), r16.get("pred").toType(DataType.FLOAT32, false).toFloatArray());
                ok &= line("parity fp16", e16, FP16_BOUND, String.format(Locale.ROOT, "pred, %.0f ms for load and forwards", ms));
            }
        }
        DataType dt = ComputeDtype.AUTO.resolve(devs);
        FluxParams dev3072 = FluxParams.named("flux-dev");
        if (width <= 0 || width % 128 != 0) throw new UsageException("--width must be a positive multiple of 128 (heads of 128), got " + width);
        FluxParams p = width == dev3072.hiddenSize() ? dev3072
                : new FluxParams(64, 64, 768, 4096, width, 4.0, width / 128, 1, 1, new int[] {16, 56, 56}, 10_000, true, true);
        int n = tokens != null ? tokens : dev.isGpu() ? 4096 + 512 : 256;
        double rate = ForwardProbe.flopsPerSecond(p, dev, dt, n, runs);
        double flops = FlopCount.singleBlock(p, 1, n) * 2.0;
        System.out.println(String.format(Locale.ROOT, "timed forward: one single block, width %d, %d tokens, %s on %s: "
                        + "%.1f ms median of %d, %.2f TFLOP/s", p.hiddenSize(), n, ComputeDtype.name(dt), devs,
                flops / rate * 1e3, runs, rate / 1e12));
        System.out.println(ok ? "gpu-check: passed" : "gpu-check: FAILED");
        return ok ? 0 : 1;
    }

    private static boolean line(String what, double err, double bound, String detail) {
        boolean pass = err <= bound;
        System.out.println(String.format(Locale.ROOT, "%s: %s, max abs error %.3e (bound %.0e; %s)", what,
                pass ? "PASS" : "FAIL", err, bound, detail));
        return pass;
    }

    static Map<String, NDArray> run(Path dir, DataType dtype, NDManager m) {
        FluxModel model = ModelDir.load(dir, m, dtype, Set.of());
        FluxInputs in = ReferenceForward.readInputs(dir.resolve("inputs.safetensors"), m);
        var denoise = ReferenceForward.Denoise.of(ModelDir.readConfig(dir), model.config());
        return ReferenceForward.compute(model, in, denoise, m);
    }

    static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) throw new IllegalStateException("sizes differ: " + a.length + " and " + b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs((double) a[i] - b[i]));
        return d;
    }

    /** The jar's copy of the fixture, in a temporary directory deleted at exit. */
    private static Path extract() throws IOException {
        Path dir = Files.createTempDirectory("fastflux-gpu-check").resolve(FIXTURE);
        Files.createDirectories(dir);
        for (String f : new String[] {"config.json", "model.safetensors", "inputs.safetensors", "expected.safetensors"}) {
            try (InputStream in = GpuCheckCommand.class.getResourceAsStream("/fastflux/fixtures/" + FIXTURE + "/" + f)) {
                if (in == null) throw new IllegalStateException("the jar lacks fixtures/" + FIXTURE + "/" + f + "; give --fixtures DIR");
                Files.copy(in, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
            dir.resolve(f).toFile().deleteOnExit();
        }
        dir.toFile().deleteOnExit();
        dir.getParent().toFile().deleteOnExit();
        return dir;
    }
}
