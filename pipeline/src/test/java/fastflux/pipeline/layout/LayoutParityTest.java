package fastflux.pipeline.layout;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.io.SafetensorsReader;
import fastflux.pipeline.layout.FluxCheckpoint.Layout;
import fastflux.sampling.EulerSampler;
import fastflux.sampling.Schedule;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The transformer loaded from each layout against the fixture's reference run: the velocity at step 0 and the
 * latents after 4 Euler steps (flux-pipeline-a/README.md: 2e-4 is the safe bound in float32).
 */
class LayoutParityTest {
    static final double TOLERANCE = 2e-4;
    static final float GUIDANCE = 3.5f;
    static final int STEPS = 4;

    @TempDir
    static Path tmp;

    static final Map<Layout, float[][]> RESULTS = new EnumMap<>(Layout.class); // {velocity_step0, latents_step3}
    static Path fastfluxDir;

    @BeforeAll
    static void writeFastfluxDir() throws IOException {
        fastfluxDir = tmp.resolve("fastflux");
        Files.createDirectories(fastfluxDir);
        Files.copy(LayoutFixture.BFL.resolve("config.json"), fastfluxDir.resolve("config.json"));
        Files.copy(LayoutFixture.BFL.resolve("flux.safetensors"), fastfluxDir.resolve("model.safetensors"));
    }

    @AfterAll
    static void forget() {
        RESULTS.clear();
    }

    static Path dirOf(Layout layout) {
        return switch (layout) {
            case DIFFUSERS -> LayoutFixture.DIFFUSERS;
            case BFL -> LayoutFixture.BFL;
            case FASTFLUX -> fastfluxDir;
        };
    }

    /** The velocity at step 0 and the latents after the last step, run once per layout. */
    static synchronized float[][] run(Layout layout) {
        return RESULTS.computeIfAbsent(layout, l -> {
            FluxCheckpoint ckpt = FluxCheckpoint.open(dirOf(l));
            assertEquals(l, ckpt.layout());
            try (NDManager m = NDManager.newBaseManager();
                 SafetensorsReader ex = SafetensorsReader.open(LayoutFixture.EXPECTED)) {
                FluxModel model = ckpt.load(m, DataType.FLOAT32);
                NDArray img = ex.load("img_packed", m, DataType.FLOAT32);
                NDArray imgIds = ex.load("img_ids", m, DataType.FLOAT32);
                NDArray txt = ex.load("t5_hidden", m, DataType.FLOAT32);
                NDArray txtIds = ex.load("txt_ids", m, DataType.FLOAT32);
                NDArray y = ex.load("clip_pooled", m, DataType.FLOAT32);
                long b = img.getShape().get(0);
                float[] schedule = Schedule.timesteps(STEPS, (int) img.getShape().get(1), true);
                float[][] velocity = new float[1][];
                EulerSampler.Velocity v = (x, t, scope) -> {
                    FluxInputs in = new FluxInputs(x, imgIds, txt, txtIds, scope.full(new Shape(b), t), y,
                            scope.full(new Shape(b), GUIDANCE));
                    in.tempAttach(scope);
                    NDArray out = model.forward(in);
                    if (velocity[0] == null) velocity[0] = out.toFloatArray(); // the first call is step 0
                    return out;
                };
                float[] latents = EulerSampler.sample(img, schedule, v, null).toFloatArray();
                return new float[][] {velocity[0], latents};
            }
        });
    }

    static double maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs((double) a[i] - b[i]));
        return d;
    }

    static float[] expected(String name) {
        try (SafetensorsReader ex = SafetensorsReader.open(LayoutFixture.EXPECTED)) {
            return ex.readFloats(name);
        }
    }

    @Test
    void scheduleIsTheFixturesTimesteps() {
        float[] want = expected("timesteps");
        float[] got = Schedule.timesteps(STEPS, 64, true);
        assertTrue(maxAbsDiff(want, got) <= 1e-6, "timesteps max abs error " + maxAbsDiff(want, got));
    }

    @ParameterizedTest
    @EnumSource(Layout.class)
    void velocityAtStep0MatchesTheReference(Layout layout) {
        double err = maxAbsDiff(expected("velocity_step0"), run(layout)[0]);
        System.out.printf("%s velocity_step0 max abs error %.3g%n", layout.cliName(), err);
        assertTrue(err <= TOLERANCE, layout + " velocity_step0 max abs error " + err);
    }

    @ParameterizedTest
    @EnumSource(Layout.class)
    void fourEulerStepsMatchTheReference(Layout layout) {
        double err = maxAbsDiff(expected("latents_step3"), run(layout)[1]);
        System.out.printf("%s latents_step3 max abs error %.3g%n", layout.cliName(), err);
        assertTrue(err <= TOLERANCE, layout + " latents_step3 max abs error " + err);
    }

    @Test
    void everyLayoutGivesTheSameBits() {
        float[][] bfl = run(Layout.BFL);
        for (Layout other : new Layout[] {Layout.DIFFUSERS, Layout.FASTFLUX}) {
            assertArrayEquals(bfl[0], run(other)[0], other + " velocity");
            assertArrayEquals(bfl[1], run(other)[1], other + " latents");
        }
    }

    @Test
    void diffusersLoadsInFp16() {
        try (NDManager m = NDManager.newBaseManager();
             SafetensorsReader ex = SafetensorsReader.open(LayoutFixture.EXPECTED)) {
            FluxModel model = FluxCheckpoint.open(LayoutFixture.DIFFUSERS).load(m, DataType.FLOAT16);
            assertEquals(DataType.FLOAT16, model.dtype());
            assertEquals(DataType.FLOAT16, model.params().get("double_blocks.0.img_attn.qkv.weight").value().getDataType());
            long b = 2;
            FluxInputs in = new FluxInputs(ex.load("img_packed", m, DataType.FLOAT16),
                    ex.load("img_ids", m, DataType.FLOAT32), ex.load("t5_hidden", m, DataType.FLOAT16),
                    ex.load("txt_ids", m, DataType.FLOAT32), m.full(new Shape(b), ex.readFloats("timesteps")[0]),
                    ex.load("clip_pooled", m, DataType.FLOAT16), m.full(new Shape(b), GUIDANCE));
            float[] got = model.forward(in).toType(DataType.FLOAT32, false).toFloatArray();
            double err = maxAbsDiff(expected("velocity_step0"), got);
            System.out.printf("diffusers fp16 velocity_step0 max abs error %.3g%n", err);
            assertTrue(err <= 2e-2, "fp16 velocity_step0 max abs error " + err);
        }
    }
}
