package fastflux.model.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import fastflux.checkpoints.AtomicFiles;
import fastflux.checkpoints.DiskFullException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds a safetensors file: tensors in insertion order, then {@link #write} streams them tensor by
 * tensor into a temp file beside the target, fsyncs, and renames it into place atomically
 * ({@link AtomicFiles}), so readers never see a half-written file; {@link #writeTo} streams them into
 * a channel someone else made durable (a checkpoint's payload).
 *
 * <p>{@code add} keeps a reference to the given float[]/long[] (no copy, data can be large); do not
 * modify them before {@link #write}. {@code add(NDArray)} copies the array's data out.
 */
public final class SafetensorsWriter {

    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();
    private static final int CHUNK_BYTES = 1 << 20;

    private record Entry(String name, DType dtype, long[] shape, float[] floats, long[] longs) {
        long byteLength() {
            return (floats != null ? floats.length : longs.length) * (long) dtype.byteSize();
        }
    }

    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final Map<String, Entry> entries = new LinkedHashMap<>();

    public SafetensorsWriter metadata(String key, String value) {
        if (key == null || value == null) {
            throw new IllegalArgumentException("metadata key and value must not be null (key " + key + ")");
        }
        metadata.put(key, value);
        return this;
    }

    /** Adds a float tensor stored as F32, F16 or BF16 (float -> half formats round to nearest even). */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, float[] data) {
        if (dtype == DType.I64) {
            throw new IllegalArgumentException("tensor '" + name + "': I64 takes long[] data, use add(name, shape, long[])");
        }
        return put(new Entry(name, dtype, checkShape(name, shape, data.length), data, null));
    }

    /** Adds an I64 tensor. */
    public SafetensorsWriter add(String name, long[] shape, long[] data) {
        return put(new Entry(name, DType.I64, checkShape(name, shape, data.length), null, data));
    }

    /** Adds a copy of {@code array}'s data (FLOAT32 or FLOAT16) stored as {@code dtype}. */
    public SafetensorsWriter add(String name, NDArray array, DType dtype) {
        DataType type = array.getDataType();
        if (type != DataType.FLOAT32 && type != DataType.FLOAT16) {
            throw new IllegalArgumentException("tensor '" + name + "': array is " + type + ", expected FLOAT32 or FLOAT16");
        }
        float[] data;
        try (NDArray fp32 = array.toType(DataType.FLOAT32, true)) {
            data = fp32.toFloatArray();
        }
        return add(name, dtype, array.getShape().getShape(), data);
    }

    private SafetensorsWriter put(Entry e) {
        if (e.name() == null || e.name().equals("__metadata__")) {
            throw new IllegalArgumentException("invalid tensor name '" + e.name() + "'");
        }
        if (entries.containsKey(e.name())) {
            throw new IllegalArgumentException("tensor '" + e.name() + "' added twice");
        }
        entries.put(e.name(), e);
        return this;
    }

    private static long[] checkShape(String name, long[] shape, int dataLength) {
        long numel = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + name + "': negative dim in shape " + Arrays.toString(shape));
            }
            numel = Math.multiplyExact(numel, d);
        }
        if (numel != dataLength) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape)
                    + " has " + numel + " elements, data has " + dataLength);
        }
        return shape.clone();
    }

    /** The header bytes, padded with spaces to a multiple of 8 so the data section is aligned. */
    byte[] header() {
        JsonObject json = new JsonObject();
        if (!metadata.isEmpty()) {
            JsonObject m = new JsonObject();
            metadata.forEach(m::addProperty);
            json.add("__metadata__", m);
        }
        long offset = 0;
        for (Entry e : entries.values()) {
            JsonObject t = new JsonObject();
            t.addProperty("dtype", e.dtype().name());
            JsonArray shape = new JsonArray();
            for (long d : e.shape()) {
                shape.add(d);
            }
            t.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(offset);
            offsets.add(offset + e.byteLength());
            t.add("data_offsets", offsets);
            json.add(e.name(), t);
            offset += e.byteLength();
        }
        byte[] raw = GSON.toJson(json).getBytes(StandardCharsets.UTF_8);
        int padded = (raw.length + 7) / 8 * 8;
        byte[] out = Arrays.copyOf(raw, padded);
        Arrays.fill(out, raw.length, padded, (byte) ' ');
        return out;
    }

    /**
     * Writes the file through {@link AtomicFiles#write}: temp file in the same directory, fsync, atomic rename over
     * {@code file}, fsync of the directory. On failure the temp file is deleted and {@code file} is untouched.
     *
     * @throws DiskFullException if the file system is full (its message names the file and the file system)
     * @throws SafetensorsException on any other failure
     */
    public void write(Path file) {
        try {
            AtomicFiles.write(file, this::writeTo);
        } catch (DiskFullException e) {
            throw e;
        } catch (AtomicMoveNotSupportedException e) {
            throw new SafetensorsException(file, "filesystem cannot rename atomically: " + e, e);
        } catch (IOException | RuntimeException e) {
            throw new SafetensorsException(file, "cannot write: " + e, e);
        }
    }

    /** Streams the file's bytes (length, header, tensors) into {@code out}, tensor by tensor. */
    public void writeTo(WritableByteChannel out) throws IOException {
        byte[] header = header();
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
        writeFully(out, len);
        writeFully(out, ByteBuffer.wrap(header));
        ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (Entry e : entries.values()) {
            writeTensor(out, chunk, e);
        }
    }

    private static void writeTensor(WritableByteChannel ch, ByteBuffer chunk, Entry e) throws IOException {
        int n = e.floats() != null ? e.floats().length : e.longs().length;
        chunk.clear();
        for (int i = 0; i < n; i++) {
            if (chunk.remaining() < 8) {
                writeFully(ch, chunk.flip());
                chunk.clear();
            }
            switch (e.dtype()) {
                case F32 -> chunk.putFloat(e.floats()[i]);
                case F16 -> chunk.putShort(Half.floatToF16(e.floats()[i]));
                case BF16 -> chunk.putShort(Half.floatToBf16(e.floats()[i]));
                case I64 -> chunk.putLong(e.longs()[i]);
            }
        }
        writeFully(ch, chunk.flip());
    }

    private static void writeFully(WritableByteChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    /** Names added so far, in insertion order. */
    public List<String> names() {
        return new ArrayList<>(entries.keySet());
    }
}
