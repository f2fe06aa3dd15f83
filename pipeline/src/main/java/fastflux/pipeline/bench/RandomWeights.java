package fastflux.pipeline.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import fastflux.model.io.Half;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A bf16 safetensors file of seeded random tensors, written tensor by tensor in 1 MiB chunks: a FLUX.1-width
 * checkpoint is gigabytes, and {@code SafetensorsWriter} holds every tensor's floats until it writes.
 *
 * <p>Norm scales (one-dimensional tensors whose name ends in a {@code norm} part's {@code .weight}) are ones,
 * biases zeros, everything else uniform with standard deviation {@code std}, so activations stay finite.
 */
public final class RandomWeights {
    private static final int CHUNK_BYTES = 1 << 20;

    private RandomWeights() {}

    /** Writes {@code shapes} (file key to shape, in this order) to {@code file}; each tensor seeded by its name. */
    public static void write(Path file, Map<String, long[]> shapes, long seed, double std) throws IOException {
        JsonObject header = new JsonObject();
        JsonObject meta = new JsonObject();
        meta.addProperty("format", "pt");
        header.add("__metadata__", meta);
        long offset = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            JsonObject t = new JsonObject();
            t.addProperty("dtype", "BF16");
            JsonArray shape = new JsonArray();
            for (long d : e.getValue()) shape.add(d);
            t.add("shape", shape);
            JsonArray offsets = new JsonArray();
            long bytes = 2 * numel(e.getValue());
            offsets.add(offset);
            offsets.add(offset + bytes);
            t.add("data_offsets", offsets);
            header.add(e.getKey(), t);
            offset += bytes;
        }
        byte[] raw = header.toString().getBytes(StandardCharsets.UTF_8);
        byte[] padded = Arrays.copyOf(raw, (raw.length + 7) / 8 * 8);
        Arrays.fill(padded, raw.length, padded.length, (byte) ' ');
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded.length).flip());
            writeFully(ch, ByteBuffer.wrap(padded));
            ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            for (Map.Entry<String, long[]> e : shapes.entrySet()) {
                writeTensor(ch, chunk, e.getKey(), e.getValue(), seed, std);
            }
        }
    }

    private static void writeTensor(FileChannel ch, ByteBuffer chunk, String name, long[] shape, long seed, double std)
            throws IOException {
        long n = numel(shape);
        Init init = init(name, shape);
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + name.hashCode());
        double half = std * Math.sqrt(3); // uniform on [-a, a] has std a / sqrt(3)
        short constant = Half.floatToBf16(init == Init.ONES ? 1f : 0f);
        chunk.clear();
        for (long i = 0; i < n; i++) {
            if (!chunk.hasRemaining()) {
                writeFully(ch, chunk.flip());
                chunk.clear();
            }
            chunk.putShort(init == Init.RANDOM ? Half.floatToBf16((float) rnd.nextDouble(-half, half)) : constant);
        }
        writeFully(ch, chunk.flip());
    }

    enum Init { ONES, ZEROS, RANDOM }

    static Init init(String name, long[] shape) {
        if (shape.length == 1 && name.endsWith(".bias")) return Init.ZEROS;
        if (shape.length == 1 && name.endsWith(".weight")) {
            String[] parts = name.split("\\.");
            if (parts.length >= 2 && parts[parts.length - 2].contains("norm")) return Init.ONES;
        }
        return Init.RANDOM;
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    /** Total parameters of {@code shapes}. */
    public static long count(Map<String, long[]> shapes) {
        long n = 0;
        for (long[] s : shapes.values()) n += numel(s);
        return n;
    }

    static Map<String, long[]> ordered() {
        return new LinkedHashMap<>();
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }
}
