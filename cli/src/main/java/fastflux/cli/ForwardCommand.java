package fastflux.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.ModelDir;
import fastflux.model.ReferenceForward;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fastflux forward}: one forward plus the denoising loop, every intermediate the reference records. */
@Command(name = "forward", mixinStandardHelpOptions = true, sortOptions = false,
        description = "run the transformer on an inputs file; write pred, block outputs, pe, schedule, denoise steps")
final class ForwardCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "config.json + model.safetensors (reference key names; bf16/fp16/fp32)")
    Path dir;

    @Option(names = "--inputs", required = true, paramLabel = "FILE",
            description = "safetensors with img, img_ids, txt, txt_ids, timesteps, y[, guidance]")
    Path inputs;

    @Option(names = "--out", required = true, paramLabel = "FILE",
            description = "where to write pred, pe, double_blocks.N.img/txt, single_blocks.N, schedule, denoise.stepK")
    Path out;

    @Option(names = "--dtype", paramLabel = "fp32|fp16", defaultValue = "fp32", description = "compute precision (default fp32)")
    String dtypeName;

    @Option(names = "--expected", paramLabel = "FILE",
            description = "reference outputs to compare with (default: DIR/expected.safetensors if present)")
    Path expectedFile;

    @Override
    public Integer call() {
        DataType dtype = Dtypes.parse(dtypeName);
        Path expected = expectedFile != null ? expectedFile : dir.resolve("expected.safetensors");
        boolean explicitExpected = expectedFile != null;
        fastflux.model.io.OutputPaths.requireWritableFile(out, "--out");
        try (NDManager m = NDManager.newBaseManager()) {
            long t0 = System.nanoTime();
            FluxModel model = ModelDir.load(dir, m, dtype, Set.of());
            FluxInputs in = ReferenceForward.readInputs(inputs, m);
            var denoise = ReferenceForward.Denoise.of(ModelDir.readConfig(dir), model.config());
            Map<String, NDArray> result = ReferenceForward.compute(model, in, denoise, m);
            SafetensorsWriter w = new SafetensorsWriter();
            result.forEach((k, v) -> w.add(k, v, DType.F32));
            if (out.getParent() != null) Files.createDirectories(out.getParent());
            w.write(out);
            System.out.printf("wrote %d tensors to %s (%s, %.0f ms)%n", result.size(), out, Dtypes.name(dtype),
                    (System.nanoTime() - t0) / 1e6);
            if (Files.isRegularFile(expected)) return compare(result, expected);
            if (explicitExpected) throw new IllegalArgumentException("expected file " + expected + " does not exist");
            return 0;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static int compare(Map<String, NDArray> got, Path expected) {
        double worst = 0;
        String worstName = "";
        try (SafetensorsReader r = SafetensorsReader.open(expected)) {
            System.out.println("agreement with " + expected + " (max abs error):");
            for (String name : r.names()) {
                NDArray g = got.get(name);
                if (g == null) {
                    System.out.printf("  %-24s missing from our outputs%n", name);
                    worst = Double.POSITIVE_INFINITY;
                    continue;
                }
                float[] e = r.readFloats(name);
                float[] v = g.toFloatArray();
                if (e.length != v.length) {
                    System.out.printf("  %-24s shape differs%n", name);
                    worst = Double.POSITIVE_INFINITY;
                    continue;
                }
                double err = 0;
                for (int i = 0; i < e.length; i++) err = Math.max(err, Math.abs((double) e[i] - v[i]));
                System.out.printf("  %-24s %.3e%n", name, err);
                if (err > worst) {
                    worst = err;
                    worstName = name;
                }
            }
        }
        System.out.printf("max abs error %.3e (%s)%n", worst, worstName);
        return 0;
    }
}
