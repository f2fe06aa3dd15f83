package fastflux.pipeline.layout;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** The flux-pipeline-a fixture's paths, and helpers that write small checkpoint directories for the tests. */
final class LayoutFixture {
    private LayoutFixture() {}

    static final Path ROOT = Path.of("src/test/resources/fixtures/flux-pipeline-a");
    static final Path BFL = ROOT.resolve("bfl");
    static final Path DIFFUSERS = ROOT.resolve("diffusers");
    static final Path TRANSFORMER = DIFFUSERS.resolve("transformer");
    static final Path EXPECTED = ROOT.resolve("expected.safetensors");

    /** Copies every regular file of {@code from} into {@code to} (created), not recursing. */
    static void copyFiles(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (var s = Files.list(from)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) Files.copy(p, to.resolve(p.getFileName()));
        }
    }

    /**
     * A safetensors file whose header lists {@code shapes} in {@code dtype} and whose data section is zeros of
     * {@code dataBytes} bytes: enough for code that reads headers only.
     */
    static void writeHeaderOnly(Path file, Map<String, long[]> shapes, String dtype, long bytesPerElement,
                                int dataBytes) throws IOException {
        JsonObject header = new JsonObject();
        long offset = 0;
        for (var e : shapes.entrySet()) {
            JsonObject t = new JsonObject();
            t.addProperty("dtype", dtype);
            JsonArray shape = new JsonArray();
            long n = 1;
            for (long d : e.getValue()) {
                shape.add(d);
                n *= d;
            }
            t.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(offset);
            offsets.add(offset + n * bytesPerElement);
            offset += n * bytesPerElement;
            t.add("data_offsets", offsets);
            header.add(e.getKey(), t);
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        Files.write(file, b.array());
    }
}
