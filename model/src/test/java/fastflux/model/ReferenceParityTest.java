package fastflux.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.io.SafetensorsReader;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The FLUX.1 transformer against outputs of the reference implementation (fixtures/flux-tiny-a). */
class ReferenceParityTest {
    static final Path FIXTURE = Path.of("src/test/resources/fixtures/flux-tiny-a");

    static Map<String, NDArray> run(DataType dtype, NDManager m) {
        FluxModel model = ModelDir.load(FIXTURE, m, dtype, Set.of());
        FluxInputs in = ReferenceForward.readInputs(FIXTURE.resolve("inputs.safetensors"), m);
        var denoise = ReferenceForward.Denoise.of(ModelDir.readConfig(FIXTURE), model.config());
        return ReferenceForward.compute(model, in, denoise, m);
    }

    static double maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs((double) a[i] - b[i]));
        return d;
    }

    @Test
    void everyRecordedTensorMatchesInFp32() {
        try (NDManager m = NDManager.newBaseManager();
             SafetensorsReader expected = SafetensorsReader.open(FIXTURE.resolve("expected.safetensors"))) {
            Map<String, NDArray> got = run(DataType.FLOAT32, m);
            assertEquals(Set.copyOf(expected.names()), got.keySet(), "same tensor names as the fixture");
            for (String name : expected.names()) {
                NDArray g = got.get(name);
                assertArrayEquals(expected.info(name).shape(), g.getShape().getShape(), name + " shape");
                double err = maxAbsDiff(expected.readFloats(name), g.toFloatArray());
                assertTrue(err <= 1e-4, name + ": max abs error " + err);
            }
        }
    }

    @Test
    void fp16ForwardStaysClose() {
        try (NDManager m = NDManager.newBaseManager()) {
            float[] ref = run(DataType.FLOAT32, m).get("pred").toFloatArray();
            float[] half = run(DataType.FLOAT16, m).get("pred").toFloatArray();
            double err = maxAbsDiff(ref, half);
            assertTrue(err <= 2e-2, "fp16 pred max abs error " + err);
        }
    }
}
