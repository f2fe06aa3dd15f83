package fastflux.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** load() agrees with readFloats() for every float dtype and both targets; add(NDArray) round-trips. */
class SafetensorsNDArrayTest {

    @TempDir
    Path dir;

    private static float[] randomFloats(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) random.nextGaussian() * 3f;
        }
        return out;
    }

    private static float[] throughF16(float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = Half.f16ToFloat(Half.floatToF16(values[i]));
        }
        return out;
    }

    @Test
    void loadMatchesReadFloats() {
        Path file = dir.resolve("w.safetensors");
        float[] data = randomFloats(4 * 5 * 3, 1);
        new SafetensorsWriter()
                .add("w.f32", DType.F32, new long[] {4, 5, 3}, data)
                .add("w.f16", DType.F16, new long[] {4, 5, 3}, data)
                .add("w.bf16", DType.BF16, new long[] {4, 5, 3}, data)
                .add("ids", new long[] {3}, new long[] {7, -8, 9})
                .write(file);

        try (SafetensorsReader r = SafetensorsReader.open(file);
             NDManager manager = NDManager.newBaseManager()) {
            for (String name : new String[] {"w.f32", "w.f16", "w.bf16"}) {
                float[] expected = r.readFloats(name);
                try (NDArray fp32 = r.load(name, manager, DataType.FLOAT32);
                     NDArray fp16 = r.load(name, manager, DataType.FLOAT16);
                     NDArray fp16AsFp32 = fp16.toType(DataType.FLOAT32, false)) {
                    assertEquals(DataType.FLOAT32, fp32.getDataType(), name);
                    assertEquals(DataType.FLOAT16, fp16.getDataType(), name);
                    assertEquals(new Shape(4, 5, 3), fp32.getShape(), name);
                    assertEquals(new Shape(4, 5, 3), fp16.getShape(), name);
                    assertArrayEquals(expected, fp32.toFloatArray(), name);
                    assertArrayEquals(throughF16(expected), fp16AsFp32.toFloatArray(), name);
                }
            }
            try (NDArray ids = r.load("ids", manager, DataType.INT64)) {
                assertEquals(DataType.INT64, ids.getDataType());
                assertArrayEquals(new long[] {7, -8, 9}, ids.toLongArray());
            }
        }
    }

    @Test
    void writerCopiesNDArraysOfEitherPrecision() {
        Path file = dir.resolve("arrays.safetensors");
        float[] data = randomFloats(6, 2);
        try (NDManager manager = NDManager.newBaseManager();
             NDArray fp32 = manager.create(data, new Shape(2, 3));
             NDArray fp16 = fp32.toType(DataType.FLOAT16, false)) {
            new SafetensorsWriter()
                    .add("fp32.as.f32", fp32, DType.F32)
                    .add("fp16.as.f16", fp16, DType.F16)
                    .add("fp32.as.bf16", fp32, DType.BF16)
                    .write(file);
        }
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            assertArrayEquals(data, r.readFloats("fp32.as.f32"));
            assertArrayEquals(throughF16(data), r.readFloats("fp16.as.f16"));
            assertArrayEquals(new long[] {2, 3}, r.info("fp16.as.f16").shape());
            float[] bf16 = r.readFloats("fp32.as.bf16");
            for (int i = 0; i < data.length; i++) {
                assertEquals(Half.bf16ToFloat(Half.floatToBf16(data[i])), bf16[i]);
            }
        }
    }
}
