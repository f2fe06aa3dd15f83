package fastflux.pipeline;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.io.SafetensorsReader;
import fastflux.pipeline.layout.FluxCheckpoint.Layout;
import fastflux.sampling.Schedule;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The whole pipeline against the flux-pipeline-a reference run (its README gives the tolerances: 2e-4 on latents,
 * 1e-3 on the image, one level on PNG pixels), opened from the diffusers folder and from the BFL files with the
 * diffusers folder's text encoders.
 */
class FluxPipelineTest {
    static final Path FIXTURE = Path.of("src/test/resources/fixtures/flux-pipeline-a");
    static final Path DIFFUSERS = FIXTURE.resolve("diffusers");
    static final Path BFL = FIXTURE.resolve("bfl");
    static final List<String> PROMPTS = List.of("a red circle left of a blue square", "three yellow triangles");
    static final FluxPipeline.Settings SETTINGS = new FluxPipeline.Settings(32, 32, 4, 3.5f, 32);

    /** One run's latents after each step and its decoded image. */
    record Run(List<float[]> steps, float[] image, List<RgbImage> rgb) {}

    static final Map<Layout, Run> RUNS = new EnumMap<>(Layout.class);

    @AfterAll
    static void forget() {
        RUNS.clear();
    }

    static FluxPipeline open(Layout layout) {
        return layout == Layout.DIFFUSERS ? FluxPipeline.open(DIFFUSERS)
                : FluxPipeline.open(BFL, new FluxPipeline.Options(null, DIFFUSERS, DataType.FLOAT32));
    }

    static synchronized Run run(Layout layout) {
        return RUNS.computeIfAbsent(layout, l -> {
            FluxPipeline p = open(l);
            assertEquals(l, p.checkpoint().layout());
            try (NDManager m = NDManager.newBaseManager();
                 NDArray noise = FluxPipeline.readNoise(FIXTURE.resolve("inputs.safetensors"), m)) {
                List<float[]> steps = new ArrayList<>();
                try (NDArray image = p.images(PROMPTS, noise, SETTINGS, (k, x) -> {
                    assertEquals(steps.size(), k);
                    steps.add(x.toFloatArray());
                })) {
                    return new Run(steps, image.toFloatArray(), RgbImage.fromDecoded(image));
                }
            }
        });
    }

    static float[] expected(String name) {
        try (SafetensorsReader r = SafetensorsReader.open(FIXTURE.resolve("expected.safetensors"))) {
            return r.readFloats(name);
        }
    }

    static double maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs((double) a[i] - b[i]));
        return d;
    }

    @ParameterizedTest
    @EnumSource(value = Layout.class, names = {"DIFFUSERS", "BFL"})
    void latentsAfterEachStepMatchTheReference(Layout layout) {
        Run r = run(layout);
        assertEquals(4, r.steps().size());
        for (int k = 0; k < 4; k++) {
            double err = maxAbsDiff(expected("latents_step" + k), r.steps().get(k));
            System.out.printf("%s latents_step%d max abs error %.3g%n", layout.cliName(), k, err);
            assertTrue(err <= 2e-4, layout + " latents_step" + k + " max abs error " + err);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Layout.class, names = {"DIFFUSERS", "BFL"})
    void theDecodedImageMatchesTheReference(Layout layout) throws IOException {
        Run r = run(layout);
        double err = maxAbsDiff(expected("image"), r.image());
        System.out.printf("%s image max abs error %.3g%n", layout.cliName(), err);
        assertTrue(err <= 1e-3, layout + " image max abs error " + err);
        for (int k = 0; k < PROMPTS.size(); k++) {
            int levels = maxLevelDiff(ImageIO.read(FIXTURE.resolve("image-" + k + ".png").toFile()), r.rgb().get(k));
            assertTrue(levels <= 1, layout + " image-" + k + " differs by " + levels + " levels");
        }
    }

    @Test
    void inFp16TheDecodedImageStaysWithin2eMinus2OfFp32() {
        FluxPipeline p = FluxPipeline.open(DIFFUSERS, new FluxPipeline.Options(null, null, DataType.FLOAT16));
        try (NDManager m = NDManager.newBaseManager();
             NDArray noise = FluxPipeline.readNoise(FIXTURE.resolve("inputs.safetensors"), m);
             NDArray image = p.images(PROMPTS, noise, SETTINGS, (k, x) -> {})) {
            float[] half = image.toType(DataType.FLOAT32, false).toFloatArray();
            for (float v : half) assertTrue(Float.isFinite(v), "finite in fp16");
            double err = maxAbsDiff(run(Layout.DIFFUSERS).image(), half);
            System.out.printf("fp16 image max abs error against fp32 %.3g%n", err);
            assertTrue(err <= 2e-2, "fp16 image max abs error " + err);
        }
    }

    @Test
    void aSizeWhoseDecodeCannotFitIsRefusedBeforeAnyWork() {
        FluxPipeline p = FluxPipeline.open(DIFFUSERS);
        long need = p.decodeBytes(1024, 1024);
        assertEquals(6L * p.autoEncoderParams().channels(0) * 1024 * 1024 * 4, need);
        p.requireFits(1024, 1024, need);
        p.requireFits(1024, 1024, -1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.requireFits(1024, 1024, need - 1));
        assertTrue(e.getMessage().startsWith("a 1024x1024 image needs about") && e.getMessage().contains("--width/--height"),
                e.getMessage());
    }

    @Test
    void bothLayoutsGiveTheSameBytes() {
        Run d = run(Layout.DIFFUSERS), b = run(Layout.BFL);
        assertArrayEquals(d.image(), b.image());
    }

    /** The largest per-channel difference between two images of one size. */
    static int maxLevelDiff(BufferedImage want, RgbImage got) {
        assertEquals(want.getWidth(), got.width());
        assertEquals(want.getHeight(), got.height());
        int d = 0;
        for (int y = 0; y < got.height(); y++) {
            for (int x = 0; x < got.width(); x++) {
                int a = want.getRGB(x, y), b = got.pixel(x, y);
                for (int shift = 0; shift <= 16; shift += 8) d = Math.max(d, Math.abs((a >> shift & 0xff) - (b >> shift & 0xff)));
            }
        }
        return d;
    }

    @Test
    void packingIsTheReferencesPrepare() {
        try (NDManager m = NDManager.newBaseManager();
             SafetensorsReader in = SafetensorsReader.open(FIXTURE.resolve("inputs.safetensors"))) {
            NDArray noise = in.load("noise", m, DataType.FLOAT32);
            NDArray packed = PackedLatents.pack(noise);
            assertArrayEquals(expected("img_packed"), packed.toFloatArray());
            assertArrayEquals(noise.toFloatArray(), PackedLatents.unpack(packed, 16, 16).toFloatArray());
            assertArrayEquals(expected("img_ids"), PackedLatents.imageIds(m, 2, 16, 16).toFloatArray());
        }
    }

    @Test
    void theSchedulerConfigGivesTheReferenceSchedule() {
        FluxPipeline p = FluxPipeline.open(DIFFUSERS);
        assertTrue(p.schedule().dynamic()); // its "shift": 3.0 applies only without dynamic shifting, as in diffusers
        assertArrayEquals(Schedule.timesteps(4, 64, true), p.schedule().timesteps(4, 64));
        assertArrayEquals(expected("timesteps"), p.schedule().timesteps(4, 64), 1e-6f);
    }

    @Test
    void aStaticShiftAndNoShift(@TempDir Path tmp) throws IOException {
        Path schnell = Files.writeString(tmp.resolve("schnell.json"), "{\"use_dynamic_shifting\": false, \"shift\": 1.0}");
        assertArrayEquals(new float[] {1f, 0.75f, 0.5f, 0.25f, 0f}, FlowSchedule.read(schnell).timesteps(4, 4096));
        Path three = Files.writeString(tmp.resolve("three.json"), "{\"use_dynamic_shifting\": false, \"shift\": 3.0}");
        // 3 * 0.5 / (1 + 2 * 0.5) = 0.75
        assertEquals(0.75f, FlowSchedule.read(three).timesteps(2, 64)[1], 1e-7f);
    }

    @Test
    void defaultsFollowTheModel() {
        FluxPipeline p = FluxPipeline.open(DIFFUSERS);
        assertTrue(p.guidanceDistilled());
        assertEquals(FluxPipeline.DEV_MAX_SEQUENCE_LENGTH, p.defaultSettings().maxSequenceLength());
        assertEquals(4, p.sizeMultiple()); // the fixture's autoencoder downsamples by 2
    }

    @Test
    void aSizeThatCannotBePackedNamesTheNearestValidSizes() {
        FluxPipeline p = FluxPipeline.open(DIFFUSERS);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.requireValidSize(30, 32));
        assertTrue(e.getMessage().contains("width 30 is not a multiple of 4"), e.getMessage());
        assertTrue(e.getMessage().contains("28 or 32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> p.requireValidSize(32, 2));
        assertTrue(e.getMessage().contains("nearest valid heights are 4"), e.getMessage());
    }

    @Test
    void bflFilesWithoutTextEncodersSayWhereToFindThem() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FluxPipeline.open(BFL));
        assertTrue(e.getMessage().contains("--text-encoders"), e.getMessage());
        assertTrue(e.getMessage().contains("text_encoder_2/"), e.getMessage());
    }

    @Test
    void seededNoiseDependsOnItsSeedAlone() {
        FluxPipeline p = FluxPipeline.open(DIFFUSERS);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray two = p.noise(new long[] {5, 6}, 32, 32, m);
            NDArray one = p.noise(new long[] {6}, 32, 32, m);
            assertEquals(new ai.djl.ndarray.types.Shape(2, 16, 16, 16), two.getShape());
            assertArrayEquals(one.toFloatArray(), two.get(1).toFloatArray());
        }
    }

    @Test
    void noPipelineClassPassesAJavaNumberToATensorOp() throws Exception {
        Path classes = fastflux.model.NumberOpsTest.classesDir(FluxPipeline.class).resolve("fastflux/pipeline");
        try (var files = Files.list(classes)) {
            for (Path c : files.filter(f -> f.toString().endsWith(".class")).toList()) {
                String bytes = new String(Files.readAllBytes(c), java.nio.charset.StandardCharsets.ISO_8859_1);
                assertFalse(bytes.contains("(Ljava/lang/Number;)Lai/djl/ndarray/NDArray;"), c + ": use Tensors.add/mul/div/addi/muli instead");
            }
        }
    }
}
