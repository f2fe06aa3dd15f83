package fastflux.pipeline.export;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import fastflux.checkpoints.AtomicFiles;
import fastflux.checkpoints.DiskFullException;
import fastflux.model.io.DType;
import fastflux.model.io.Half;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A safetensors file whose tensors are computed one at a time while it is written: the header needs only names,
 * dtypes and shapes, so a 12B transformer is exported holding one tensor's floats beside the model, not all of them.
 * Floats are stored as F32, F16 or BF16 (rounded to nearest even in Java: {@link Half}); the file appears atomically.
 */
final class StreamingSafetensors {
    private StreamingSafetensors() {}

    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();

    /** One tensor: its values, row-major, are asked for when the writer reaches it. */
    record Tensor(String name, DType dtype, long[] shape, Supplier<float[]> values) {
        Tensor {
            if (!dtype.isFloating()) throw new IllegalArgumentException("tensor " + name + ": " + dtype + " is not a float type");
        }

        long numel() {
            long n = 1;
            for (long d : shape) n = Math.multiplyExact(n, d);
            return n;
        }

        long bytes() {
            return numel() * dtype.byteSize();
        }
    }

    static void write(Path file, Map<String, String> metadata, List<Tensor> tensors) {
        byte[] header = header(metadata, tensors);
        try {
            AtomicFiles.write(file, out -> {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
                AtomicFiles.writeFully(out, len);
                AtomicFiles.writeFully(out, ByteBuffer.wrap(header));
                ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
                for (Tensor t : tensors) writeTensor(out, chunk, t);
            });
        } catch (DiskFullException e) {
            throw e;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    private static byte[] header(Map<String, String> metadata, List<Tensor> tensors) {
        JsonObject json = new JsonObject();
        if (!metadata.isEmpty()) {
            JsonObject m = new JsonObject();
            metadata.forEach(m::addProperty);
            json.add("__metadata__", m);
        }
        long offset = 0;
        for (Tensor t : tensors) {
            if (json.has(t.name())) throw new IllegalArgumentException("tensor " + t.name() + " written twice");
            JsonObject o = new JsonObject();
            o.addProperty("dtype", t.dtype().name());
            JsonArray shape = new JsonArray();
            for (long d : t.shape()) shape.add(d);
            o.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(offset);
            offsets.add(offset + t.bytes());
            o.add("data_offsets", offsets);
            json.add(t.name(), o);
            offset += t.bytes();
        }
        byte[] raw = GSON.toJson(json).getBytes(StandardCharsets.UTF_8);
        byte[] out = Arrays.copyOf(raw, (raw.length + 7) / 8 * 8);
        Arrays.fill(out, raw.length, out.length, (byte) ' ');
        return out;
    }

    private static void writeTensor(WritableByteChannel ch, ByteBuffer chunk, Tensor t) throws IOException {
        float[] v = t.values().get();
        if (v.length != t.numel()) {
            throw new IllegalStateException("tensor " + t.name() + ": " + v.length + " values for shape " + Arrays.toString(t.shape()));
        }
        chunk.clear();
        for (float x : v) {
            if (chunk.remaining() < 4) {
                AtomicFiles.writeFully(ch, chunk.flip());
                chunk.clear();
            }
            switch (t.dtype()) {
                case F32 -> chunk.putFloat(x);
                case F16 -> chunk.putShort(Half.floatToF16(x));
                case BF16 -> chunk.putShort(Half.floatToBf16(x));
                default -> throw new IllegalStateException(t.dtype().name());
            }
        }
        AtomicFiles.writeFully(ch, chunk.flip());
    }
}
