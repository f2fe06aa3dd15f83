package fastflux.model.io;

import static fastflux.model.io.SafetensorsRoundTripTest.assertMessage;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every malformed file fails with a SafetensorsException naming the file and the problem. */
class SafetensorsValidationTest {

    @TempDir
    Path dir;

    /** Writes u64 header length, the JSON header and the data bytes as given. */
    static void writeRaw(Path file, String json, byte[] data) throws IOException {
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        writeRaw(file, header.length, header, data);
    }

    static void writeRaw(Path file, long headerLength, byte[] header, byte[] data) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(headerLength).put(header).put(data);
        Files.write(file, buf.array());
    }

    private Path file(String json, int dataBytes) throws IOException {
        Path file = dir.resolve("bad.safetensors");
        writeRaw(file, json, new byte[dataBytes]);
        return file;
    }

    private static SafetensorsException openFails(Path file, String... expected) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsReader.open(file).close());
        assertTrue(e.getMessage().contains(file.toString()), "message names the file: " + e.getMessage());
        for (String part : expected) {
            assertTrue(e.getMessage().contains(part), "message '" + e.getMessage() + "' lacks '" + part + "'");
        }
        return e;
    }

    private static String entry(String name, String dtype, String shape, String offsets) {
        return "{\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";
    }

    @Test
    void fileShorterThanEightBytes() throws IOException {
        Path file = dir.resolve("tiny.safetensors");
        Files.write(file, new byte[] {1, 2, 3});
        openFails(file, "3 bytes", "shorter than");
    }

    @Test
    void headerLengthNegativeOrAbsurd() throws IOException {
        Path file = dir.resolve("absurd.safetensors");
        writeRaw(file, -1L, new byte[0], new byte[0]);
        openFails(file, "header length", "absurd");
        writeRaw(file, 1L << 40, new byte[0], new byte[0]);
        openFails(file, "header length", "absurd");
    }

    @Test
    void headerPastEndOfFile() throws IOException {
        Path file = dir.resolve("truncated.safetensors");
        writeRaw(file, 100, "{\"a\":".getBytes(StandardCharsets.UTF_8), new byte[0]);
        openFails(file, "header length 100", "truncated file");
    }

    @Test
    void headerNotJsonOrNotAnObject() throws IOException {
        openFails(file("{not json", 0), "corrupt header", "not valid JSON");
        openFails(file("{\"a\": {}} trailing", 0), "corrupt header");
        openFails(file("[1, 2]", 0), "corrupt header", "not an object");
        Path badUtf8 = dir.resolve("utf8.safetensors");
        writeRaw(badUtf8, 2, new byte[] {(byte) 0xc3, (byte) 0x28}, new byte[0]);
        openFails(badUtf8, "corrupt header", "UTF-8");
        openFails(file("{\"__metadata__\": {\"k\": 1}}", 0), "__metadata__", "'k'");
    }

    @Test
    void entryMissingAField() throws IOException {
        openFails(file("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "'w'", "missing 'dtype'");
        openFails(file("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "'w'", "missing 'shape'");
        openFails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "'w'", "missing 'data_offsets'");
        openFails(file("{\"w\": 3}", 4), "'w'", "not a JSON object");
        openFails(file(entry("w", "F32", "[1.5]", "[0,4]"), 4), "'w'", "not a 64-bit integer");
        openFails(file(entry("w", "F32", "[1]", "[0]"), 4), "'w'", "[begin, end]");
    }

    @Test
    void unknownDtypeIsNamed() throws IOException {
        openFails(file(entry("w", "F8_E4M3", "[1]", "[0,1]"), 1), "'w'", "unknown safetensors dtype 'F8_E4M3'");
        assertMessage(IllegalArgumentException.class, "'U8'", () -> DType.parse("U8"));
    }

    @Test
    void endBeforeBegin() throws IOException {
        openFails(file(entry("w", "F32", "[1]", "[8,4]"), 8), "'w'", "end 4 < begin 8");
    }

    @Test
    void byteSizeDisagreesWithShape() throws IOException {
        openFails(file(entry("w", "F32", "[3]", "[0,8]"), 8), "'w'", "needs 12 bytes", "hold 8");
    }

    @Test
    void dataPastEndOfFile() throws IOException {
        openFails(file(entry("w", "F32", "[4]", "[0,16]"), 8), "'w'", "truncated data", "16", "only 8 available");
    }

    @Test
    void negativeDim() throws IOException {
        openFails(file(entry("w", "F32", "[-1,2]", "[0,0]"), 0), "'w'", "negative dim -1");
    }

    @Test
    void missingTensorAndWrongDtypeAreNamed() throws IOException {
        Path file = dir.resolve("ok.safetensors");
        new SafetensorsWriter()
                .add("ids", new long[] {1}, new long[] {5})
                .add("w", DType.BF16, new long[] {1}, new float[] {1f})
                .write(file);
        try (SafetensorsReader r = SafetensorsReader.open(file);
             NDManager manager = NDManager.newBaseManager()) {
            assertMessage(SafetensorsException.class, "tensor 'nope': no such tensor", () -> r.info("nope"));
            assertMessage(SafetensorsException.class, "'nope'", () -> r.readFloats("nope"));
            assertMessage(SafetensorsException.class, "'ids': is I64", () -> r.readFloats("ids"));
            assertMessage(SafetensorsException.class, "'w': is BF16", () -> r.readLongs("w"));
            // bf16 is never handed to DJL: refused with an error instead of a JVM abort
            assertMessage(SafetensorsException.class, "BFLOAT16", () -> r.load("w", manager, DataType.BFLOAT16));
        }
    }
}
