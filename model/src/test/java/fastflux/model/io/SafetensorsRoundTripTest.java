package fastflux.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fastflux.checkpoints.AtomicFiles;
import fastflux.checkpoints.DiskFullException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsRoundTripTest {

    @TempDir
    Path dir;

    private static final float[] VALUES = {1.0f, -2.5f, 0.0f, 0.15625f, 3.0f, -1024f};

    @Test
    void roundTripsEveryDTypeAndMetadata() {
        Path file = dir.resolve("model.safetensors");
        float[] odd = {0.1f, -0.3f, 1e-3f, 123.456f, Float.NaN, Float.NEGATIVE_INFINITY};
        new SafetensorsWriter()
                .metadata("format", "pt")
                .metadata("fastflux.step", "42")
                .add("b.f32", DType.F32, new long[] {2, 3}, odd)
                .add("a.f16", DType.F16, new long[] {3, 2}, VALUES)
                .add("c.bf16", DType.BF16, new long[] {6}, VALUES)
                .add("d.bf16.rounded", DType.BF16, new long[] {6}, odd)
                .add("ids", new long[] {2, 2}, new long[] {0, -1, Long.MAX_VALUE, Long.MIN_VALUE})
                .add("scalar", DType.F32, new long[] {}, new float[] {7f})
                .add("empty", DType.F16, new long[] {0, 4}, new float[0])
                .write(file);

        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            assertEquals(Map.of("format", "pt", "fastflux.step", "42"), r.metadata());
            assertEquals(List.of("b.f32", "a.f16", "c.bf16", "d.bf16.rounded", "ids", "scalar", "empty"), r.names());
            assertArrayEquals(odd, r.readFloats("b.f32"));
            assertArrayEquals(VALUES, r.readFloats("a.f16"));
            assertArrayEquals(VALUES, r.readFloats("c.bf16"));
            float[] rounded = r.readFloats("d.bf16.rounded");
            for (int i = 0; i < odd.length; i++) {
                assertEquals(Half.bf16ToFloat(Half.floatToBf16(odd[i])), rounded[i]);
            }
            assertArrayEquals(new long[] {0, -1, Long.MAX_VALUE, Long.MIN_VALUE}, r.readLongs("ids"));
            assertArrayEquals(new float[] {7f}, r.readFloats("scalar"));
            assertEquals(1, r.info("scalar").numel());
            assertArrayEquals(new float[0], r.readFloats("empty"));

            TensorInfo a = r.info("a.f16");
            assertEquals(DType.F16, a.dtype());
            assertArrayEquals(new long[] {3, 2}, a.shape());
            assertArrayEquals(new int[] {3, 2}, a.intShape());
            assertEquals(6, a.numel());
            assertEquals(12, a.end() - a.begin());
            assertTrue(r.contains("ids"));
            assertFalse(r.contains("nope"));

            ByteBuffer raw = r.raw("c.bf16");
            assertTrue(raw.isReadOnly());
            assertEquals(ByteOrder.LITTLE_ENDIAN, raw.order());
            assertEquals(12, raw.remaining());
            assertEquals((short) 0x3f80, raw.getShort(0));
        }
    }

    @Test
    void headerIsPaddedToEightBytesAndTensorsAreInInsertionOrder() throws IOException {
        Path file = dir.resolve("padded.safetensors");
        new SafetensorsWriter().metadata("k", "v")
                .add("z", DType.F32, new long[] {1}, new float[] {1f})
                .add("y", DType.F32, new long[] {1}, new float[] {2f})
                .write(file);
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8);
        assertEquals(8 + n + 8, bytes.length);
        ByteBuffer data = ByteBuffer.wrap(bytes, (int) (8 + n), 8).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1f, data.getFloat());
        assertEquals(2f, data.getFloat());
    }

    @Test
    void namesFollowFileOrderNotJsonOrder() throws IOException {
        Path file = dir.resolve("order.safetensors");
        String json = "{\"second\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                + "\"first\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        ByteBuffer data = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1f).putFloat(2f);
        SafetensorsValidationTest.writeRaw(file, json, data.array());
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            assertEquals(List.of("first", "second"), r.names());
            assertArrayEquals(new float[] {2f}, r.readFloats("second"));
            assertEquals(Map.of(), r.metadata());
        }
    }

    @Test
    void writerRenamesItsTempFileIntoPlaceAndLeavesNothingBehind() throws IOException {
        Path file = dir.resolve("ckpt.safetensors");
        new SafetensorsWriter().add("w", DType.F32, new long[] {1}, new float[] {1f}).write(file);
        new SafetensorsWriter().add("w", DType.F32, new long[] {2}, new float[] {3f, 4f}).write(file); // overwrite
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            assertArrayEquals(new float[] {3f, 4f}, r.readFloats("w"));
        }
    }

    @Test
    void failedWriteLeavesNoTempFileAndNamesTheFile() throws IOException {
        Path missingDir = dir.resolve("no/such/dir/x.safetensors");
        SafetensorsException e = assertThrows(SafetensorsException.class,
                () -> new SafetensorsWriter().add("w", DType.F32, new long[] {1}, new float[] {1f}).write(missingDir));
        assertTrue(e.getMessage().contains("x.safetensors"), e.getMessage());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(0, files.count());
        }
    }

    @Test
    void aFullDiskFailsTheWriteNamingTheFileAndLeavesTheOldFile() throws IOException {
        Path file = dir.resolve("model.safetensors");
        new SafetensorsWriter().add("w", DType.F32, new long[] {1}, new float[] {1f}).write(file);
        float[] big = new float[10_000];
        try {
            AtomicFiles.hook(AtomicFiles.WriteHook.noSpaceAfter(dir, 4096));
            DiskFullException e = assertThrows(DiskFullException.class,
                    () -> new SafetensorsWriter().add("w", DType.F32, new long[] {big.length}, big).write(file));
            assertTrue(e.getMessage().startsWith(file + ": no space left on device"), e.getMessage());
        } finally {
            AtomicFiles.hook(AtomicFiles.WriteHook.NONE);
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "no temp file is left");
        }
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            assertArrayEquals(new float[] {1f}, r.readFloats("w"));
        }
    }

    @Test
    void writerRejectsBadInput() {
        SafetensorsWriter w = new SafetensorsWriter().add("w", DType.F32, new long[] {2}, new float[] {1f, 2f});
        assertMessage(IllegalArgumentException.class, "added twice",
                () -> w.add("w", DType.F32, new long[] {1}, new float[] {1f}));
        assertMessage(IllegalArgumentException.class, "has 6 elements, data has 5",
                () -> w.add("x", DType.F16, new long[] {2, 3}, new float[5]));
        assertMessage(IllegalArgumentException.class, "negative dim",
                () -> w.add("x", DType.F16, new long[] {-1}, new float[0]));
        assertMessage(IllegalArgumentException.class, "I64 takes long[]",
                () -> w.add("x", DType.I64, new long[] {1}, new float[1]));
    }

    @Test
    void closedReaderFailsClearly() throws IOException {
        Path file = dir.resolve("closed.safetensors");
        new SafetensorsWriter().add("w", DType.F32, new long[] {1}, new float[] {1f}).write(file);
        SafetensorsReader r = SafetensorsReader.open(file);
        ByteBuffer raw = r.raw("w");
        r.close();
        assertEquals(1f, raw.getFloat(0)); // buffers handed out stay valid after close
        assertMessage(SafetensorsException.class, "closed", () -> r.readFloats("w"));
        assertEquals(List.of("w"), r.names());
    }

    static void assertMessage(Class<? extends Throwable> type, String expected, Runnable action) {
        Throwable t = assertThrows(type, action::run);
        assertTrue(t.getMessage().contains(expected), "message '" + t.getMessage() + "' lacks '" + expected + "'");
    }

}
