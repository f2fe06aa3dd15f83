package fastflux.model.io;

import static fastflux.model.io.SafetensorsRoundTripTest.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Offsets past 2^31 in a sparse file: costs a few KB of disk, not gigabytes. */
class SafetensorsLargeFileTest {

    @TempDir
    Path dir;

    private static final long TWO_GB = 1L << 31;

    @Test
    void readsTensorStoredPastTwoGigabytes() throws IOException {
        // "huge" spans [0, 2^31 + 4): one F32 tensor too big for a ByteBuffer.
        // "tail" sits after it, past byte 2^31 of the file.
        long hugeBytes = TWO_GB + 4;
        long tailBegin = hugeBytes + 12;
        float[] tail = {1f, -2.5f, 0.5f, 3f, 1024f, -0.125f};
        long tailEnd = tailBegin + 4L * tail.length;
        long bf16Begin = tailEnd;
        long bf16End = bf16Begin + 2L * tail.length;
        String json = "{\"huge\":{\"dtype\":\"F32\",\"shape\":[" + hugeBytes / 4 + "],\"data_offsets\":[0," + hugeBytes + "]},"
                + "\"tail\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[" + tailBegin + "," + tailEnd + "]},"
                + "\"tail.bf16\":{\"dtype\":\"BF16\",\"shape\":[3,2],\"data_offsets\":[" + bf16Begin + "," + bf16End + "]}}";
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        long dataStart = 8 + header.length;

        Path file = dir.resolve("sparse.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            raf.write(header);
            raf.setLength(dataStart + bf16End); // sparse: the hole reads as zeros
            ByteBuffer data = ByteBuffer.allocate(4 * tail.length + 2 * tail.length).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : tail) {
                data.putFloat(v);
            }
            for (float v : tail) {
                data.putShort(Half.floatToBf16(v));
            }
            raf.seek(dataStart + tailBegin);
            raf.write(data.array());
        }

        try (SafetensorsReader r = SafetensorsReader.open(file);
             NDManager manager = NDManager.newBaseManager()) {
            assertEquals(java.util.List.of("huge", "tail", "tail.bf16"), r.names());
            assertArrayEquals(tail, r.readFloats("tail"));
            assertArrayEquals(tail, r.readFloats("tail.bf16"));
            try (NDArray a = r.load("tail", manager, DataType.FLOAT32);
                 NDArray b = r.load("tail.bf16", manager, DataType.FLOAT16);
                 NDArray b32 = b.toType(DataType.FLOAT32, false)) {
                assertEquals(new Shape(2, 3), a.getShape());
                assertArrayEquals(tail, a.toFloatArray());
                assertEquals(new Shape(3, 2), b.getShape());
                assertArrayEquals(tail, b32.toFloatArray());
            }
            assertMessage(SafetensorsException.class, "'huge': is 2147483652 bytes, over the 2^31-1 byte limit",
                    () -> r.raw("huge"));
            assertMessage(SafetensorsException.class, "'huge'", () -> r.readFloats("huge"));
            assertMessage(SafetensorsException.class, "'huge'", () -> r.load("huge", manager, DataType.FLOAT16));
        }
    }

    @Test
    void tailOfSparseFileIsZeros() throws IOException {
        // A tensor entirely inside the hole reads as zeros: mapping works at any offset.
        long begin = TWO_GB + (1L << 30);
        String json = "{\"z\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[" + begin + "," + (begin + 8) + "]}}";
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        Path file = dir.resolve("hole.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            raf.write(header);
            raf.setLength(8 + header.length + begin + 8);
        }
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            float[] z = r.readFloats("z");
            assertEquals(4, z.length);
            assertEquals(0, Arrays.stream(new int[] {0, 1, 2, 3}).filter(i -> z[i] != 0f).count());
        }
    }
}
