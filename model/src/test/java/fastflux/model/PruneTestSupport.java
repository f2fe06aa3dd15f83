package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import fastflux.model.io.DType;
import fastflux.model.io.Half;
import fastflux.model.io.SafetensorsWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

/** Helpers of the pruning tests: tiny models, random arrays, base directories, bf16 rounding. */
public final class PruneTestSupport {
    private PruneTestSupport() {}

    public static final Path FIXTURE = Path.of("src/test/resources/fixtures/flux-tiny-a");

    public static FluxInputs fixtureInputs(NDManager m) {
        return ReferenceForward.readInputs(FIXTURE.resolve("inputs.safetensors"), m);
    }

    public static float[] forward(FluxModel model, FluxInputs in) {
        return model.forward(in).toFloatArray();
    }

    /** Uniform values in ±scale, seeded, libtorch-owned. */
    public static NDArray random(NDManager m, Shape shape, long seed, float scale) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[(int) shape.size()];
        for (int i = 0; i < v.length; i++) v[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return Tensors.create(m, v, shape);
    }

    /** Gives every linear of the replaced blocks random values (a stand-in for the least-squares fit). */
    public static void fitRandomly(FluxModel model, NDManager m, long seed) {
        long s = seed;
        for (Param p : model.params().values()) {
            if (!p.hasValue()) p.set(random(m, p.shape(), s++, 0.05f));
        }
    }

    /** Gives every adapter of the model a nonzero B. */
    public static void perturbAdapters(FluxModel model, NDManager m, long seed) {
        long s = seed;
        for (Param p : LoraInjector.trainableParams(model).values()) {
            if (p.name().endsWith("lora_B")) p.set(random(m, p.shape(), s++, 0.05f));
        }
    }

    /** Rounds every value to bf16 (nearest even), as an export to a bf16 checkpoint does. */
    public static void roundToBf16(Map<String, Param> params, NDManager m) {
        for (Param p : params.values()) {
            float[] v = p.value().toFloatArray();
            for (int i = 0; i < v.length; i++) v[i] = Half.bf16ToFloat(Half.floatToBf16(v[i]));
            p.set(Tensors.create(m, v, p.shape()));
        }
    }

    /** Writes a full model directory: config.json (params plus {@code extra} keys) and the weights in {@code dtype}. */
    public static void writeDir(Map<String, Param> params, FluxParams config, JsonObject extra, DType dtype, Path dir) {
        try {
            Files.createDirectories(dir);
            SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt").metadata("origin", "test");
            for (Param p : params.values()) w.add(p.name(), p.value(), dtype);
            w.write(dir.resolve("model.safetensors"));
            JsonObject cfg = extra.deepCopy();
            cfg.add("params", FluxParamsJson.toJson(config));
            Files.writeString(dir.resolve("config.json"), new GsonBuilder().setPrettyPrinting().create().toJson(cfg));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) throw new AssertionError("lengths " + a.length + " != " + b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs((double) a[i] - b[i]));
        return d;
    }
}
