package fastflux.model.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a safetensors file tensor by tensor: {@link #open} parses and validates the header only,
 * and each tensor is memory-mapped on its own, so files far over 2 GB (flux1-dev is 23.8 GB) are
 * never read into the heap.
 *
 * <p>Layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then the data section;
 * {@code data_offsets} are relative to the data section start.
 *
 * <p>One FileChannel stays open while the reader lives. Mappings the reader makes for
 * {@link #readFloats}, {@link #readLongs} and {@link #load} are unmapped as soon as the copy is
 * done. Buffers returned by {@link #raw} belong to the caller: they stay valid after {@link #close}
 * and are unmapped by GC, because unmapping a buffer someone still holds would crash the JVM.
 */
public final class SafetensorsReader implements AutoCloseable {

    /** The safetensors spec caps the header at 100 MB; anything larger is corruption. */
    static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final String METADATA_KEY = "__metadata__";

    private final Path file;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, String> metadata;
    private final Map<String, TensorInfo> tensors; // file order (by begin offset)
    private volatile boolean closed;

    private SafetensorsReader(Path file, FileChannel channel, long dataStart,
                              Map<String, String> metadata, Map<String, TensorInfo> tensors) {
        this.file = file;
        this.channel = channel;
        this.dataStart = dataStart;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    /**
     * Opens {@code file}, reads and validates its header.
     *
     * @throws SafetensorsException naming the file and the problem (truncated, corrupt header,
     *     bad entry, data past end of file, ...)
     */
    public static SafetensorsReader open(Path file) {
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new SafetensorsException(file, "cannot open: " + e, e);
        }
        try {
            return parse(file, channel);
        } catch (RuntimeException e) {
            closeQuietly(channel, e);
            throw e;
        }
    }

    private static SafetensorsReader parse(Path file, FileChannel channel) {
        long fileSize;
        try {
            fileSize = channel.size();
        } catch (IOException e) {
            throw new SafetensorsException(file, "cannot read size: " + e, e);
        }
        if (fileSize < 8) {
            throw new SafetensorsException(file, "file is " + fileSize
                    + " bytes, shorter than the 8-byte header length: not a safetensors file or truncated");
        }
        long headerLength = readFully(file, channel, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
            throw new SafetensorsException(file, "header length " + Long.toUnsignedString(headerLength)
                    + " is absurd (limit " + MAX_HEADER_BYTES + " bytes): corrupt file");
        }
        if (8 + headerLength > fileSize) {
            throw new SafetensorsException(file, "header length " + headerLength + " runs past the end of the file ("
                    + fileSize + " bytes): truncated file");
        }
        ByteBuffer headerBytes = readFully(file, channel, 8, (int) headerLength);
        String json;
        try {
            json = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(headerBytes)
                    .toString();
        } catch (CharacterCodingException e) {
            throw new SafetensorsException(file, "corrupt header: not valid UTF-8", e);
        }
        JsonObject header = parseHeaderJson(file, json);
        long dataStart = 8 + headerLength;
        long dataSize = fileSize - dataStart;

        Map<String, String> metadata = Map.of();
        List<TensorInfo> infos = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : header.entrySet()) {
            if (e.getKey().equals(METADATA_KEY)) {
                metadata = parseMetadata(file, e.getValue());
            } else {
                infos.add(parseEntry(file, e.getKey(), e.getValue(), dataSize));
            }
        }
        infos.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (TensorInfo t : infos) {
            tensors.put(t.name(), t);
        }
        return new SafetensorsReader(file, channel, dataStart, metadata,
                Collections.unmodifiableMap(tensors));
    }

    private static JsonObject parseHeaderJson(Path file, String json) {
        JsonElement root;
        try {
            JsonReader reader = new JsonReader(new StringReader(json));
            reader.setStrictness(Strictness.STRICT);
            root = JsonParser.parseReader(reader);
            if (reader.peek() != JsonToken.END_DOCUMENT) {
                throw new SafetensorsException(file, "corrupt header: trailing data after the JSON object");
            }
        } catch (JsonParseException | IOException | IllegalStateException e) {
            throw new SafetensorsException(file, "corrupt header: not valid JSON (" + e.getMessage() + ")", e);
        }
        if (!root.isJsonObject()) {
            throw new SafetensorsException(file, "corrupt header: JSON is not an object");
        }
        return root.getAsJsonObject();
    }

    private static Map<String, String> parseMetadata(Path file, JsonElement value) {
        if (!value.isJsonObject()) {
            throw new SafetensorsException(file, "corrupt header: " + METADATA_KEY + " is not an object");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> m : value.getAsJsonObject().entrySet()) {
            JsonElement v = m.getValue();
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
                throw new SafetensorsException(file, "corrupt header: " + METADATA_KEY + " value for '"
                        + m.getKey() + "' is not a string");
            }
            metadata.put(m.getKey(), v.getAsString());
        }
        return Collections.unmodifiableMap(metadata);
    }

    private static TensorInfo parseEntry(Path file, String name, JsonElement value, long dataSize) {
        if (!value.isJsonObject()) {
            throw SafetensorsException.tensor(file, name, "header entry is not a JSON object");
        }
        JsonObject entry = value.getAsJsonObject();
        for (String key : List.of("dtype", "shape", "data_offsets")) {
            if (!entry.has(key) || entry.get(key).isJsonNull()) {
                throw SafetensorsException.tensor(file, name, "header entry is missing '" + key + "'");
            }
        }
        JsonElement dtypeJson = entry.get("dtype");
        if (!dtypeJson.isJsonPrimitive() || !dtypeJson.getAsJsonPrimitive().isString()) {
            throw SafetensorsException.tensor(file, name, "'dtype' is not a string: " + dtypeJson);
        }
        DType dtype;
        try {
            dtype = DType.parse(dtypeJson.getAsString());
        } catch (IllegalArgumentException e) {
            throw SafetensorsException.tensor(file, name, e.getMessage());
        }
        long[] shape = longArray(file, name, "shape", entry.get("shape"));
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw SafetensorsException.tensor(file, name, "negative dim " + shape[i] + " at index " + i
                        + " of shape " + java.util.Arrays.toString(shape));
            }
        }
        long[] offsets = longArray(file, name, "data_offsets", entry.get("data_offsets"));
        if (offsets.length != 2) {
            throw SafetensorsException.tensor(file, name, "'data_offsets' must be [begin, end], got "
                    + offsets.length + " numbers");
        }
        long begin = offsets[0];
        long end = offsets[1];
        if (begin < 0 || end < 0) {
            throw SafetensorsException.tensor(file, name, "negative data_offsets [" + begin + ", " + end + "]");
        }
        if (end < begin) {
            throw SafetensorsException.tensor(file, name, "data_offsets end " + end + " < begin " + begin);
        }
        TensorInfo info = new TensorInfo(name, dtype, shape, begin, end);
        long expectedBytes;
        try {
            expectedBytes = Math.multiplyExact(info.numel(), dtype.byteSize());
        } catch (ArithmeticException e) {
            throw SafetensorsException.tensor(file, name, "shape " + java.util.Arrays.toString(shape)
                    + " overflows a 64-bit element count");
        }
        if (end - begin != expectedBytes) {
            throw SafetensorsException.tensor(file, name, "byte size mismatch: shape "
                    + java.util.Arrays.toString(shape) + " of " + dtype + " needs " + expectedBytes
                    + " bytes, data_offsets [" + begin + ", " + end + "] hold " + (end - begin));
        }
        if (end > dataSize) {
            throw SafetensorsException.tensor(file, name, "data runs past the end of the file (truncated data):"
                    + " needs bytes up to " + end + " of the data section, only " + dataSize + " available");
        }
        return info;
    }

    private static long[] longArray(Path file, String name, String key, JsonElement json) {
        if (!json.isJsonArray()) {
            throw SafetensorsException.tensor(file, name, "'" + key + "' is not an array: " + json);
        }
        JsonArray array = json.getAsJsonArray();
        long[] out = new long[array.size()];
        for (int i = 0; i < out.length; i++) {
            JsonElement el = array.get(i);
            if (!el.isJsonPrimitive() || !((JsonPrimitive) el).isNumber()) {
                throw SafetensorsException.tensor(file, name, "'" + key + "' element " + i + " is not a number: " + el);
            }
            try {
                out[i] = Long.parseLong(el.getAsString());
            } catch (NumberFormatException e) {
                throw SafetensorsException.tensor(file, name, "'" + key + "' element " + i
                        + " is not a 64-bit integer: " + el);
            }
        }
        return out;
    }

    private static ByteBuffer readFully(Path file, FileChannel channel, long position, int length) {
        ByteBuffer buf = ByteBuffer.allocate(length);
        try {
            while (buf.hasRemaining()) {
                int n = channel.read(buf, position + buf.position());
                if (n < 0) {
                    throw new SafetensorsException(file, "unexpected end of file at byte " + (position + buf.position()));
                }
            }
        } catch (IOException e) {
            throw new SafetensorsException(file, "cannot read: " + e, e);
        }
        return buf.flip();
    }

    private static void closeQuietly(FileChannel channel, Throwable primary) {
        try {
            channel.close();
        } catch (IOException e) {
            primary.addSuppressed(e);
        }
    }

    // ---------------------------------------------------------------- header queries

    public Path file() {
        return file;
    }

    /** The {@code __metadata__} string map (empty if absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensor names in file order (sorted by begin offset). */
    public List<String> names() {
        return List.copyOf(tensors.keySet());
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** @throws SafetensorsException naming the missing tensor */
    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw SafetensorsException.tensor(file, name, "no such tensor (file has " + tensors.size() + ")");
        }
        return info;
    }

    // ---------------------------------------------------------------- data

    /**
     * The tensor's bytes, memory-mapped (one mapping per tensor), little-endian, read-only,
     * position 0, limit = byte length.
     *
     * @throws SafetensorsException if the tensor is over 2^31-1 bytes (one ByteBuffer cannot hold it)
     */
    public ByteBuffer raw(String name) {
        return map(info(name));
    }

    private MappedByteBuffer map(TensorInfo info) {
        if (closed) {
            throw new SafetensorsException(file, "reader is closed (reading tensor '" + info.name() + "')");
        }
        long length = info.byteLength();
        if (length > Integer.MAX_VALUE) {
            throw SafetensorsException.tensor(file, info.name(), "is " + length
                    + " bytes, over the 2^31-1 byte limit of one mapped ByteBuffer");
        }
        try {
            MappedByteBuffer buf = channel.map(FileChannel.MapMode.READ_ONLY, dataStart + info.begin(), length);
            buf.order(ByteOrder.LITTLE_ENDIAN);
            return buf;
        } catch (IOException e) {
            throw SafetensorsException.tensor(file, info.name(), "cannot map " + length + " bytes at "
                    + (dataStart + info.begin()) + ": " + e);
        }
    }

    /** An F32, F16 or BF16 tensor as floats (converted in Java), row-major. */
    public float[] readFloats(String name) {
        TensorInfo info = info(name);
        requireFloating(info);
        long numel = info.numel();
        if (numel > Integer.MAX_VALUE - 8) {
            throw SafetensorsException.tensor(file, name, numel + " elements do not fit a Java float[]");
        }
        MappedByteBuffer mapped = map(info);
        try {
            float[] out = new float[(int) numel];
            switch (info.dtype()) {
                case F32 -> mapped.asFloatBuffer().get(out);
                case F16 -> {
                    for (int i = 0; i < out.length; i++) {
                        out[i] = Half.f16ToFloat(mapped.getShort(2 * i));
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < out.length; i++) {
                        out[i] = Half.bf16ToFloat(mapped.getShort(2 * i));
                    }
                }
                default -> throw new AssertionError(info.dtype());
            }
            return out;
        } finally {
            fastflux.model.DirectBuffers.free(mapped); // the mapping never escaped: unmap now, not at a GC
        }
    }

    /** An I64 tensor as longs, row-major. */
    public long[] readLongs(String name) {
        TensorInfo info = info(name);
        if (info.dtype() != DType.I64) {
            throw SafetensorsException.tensor(file, name, "is " + info.dtype() + ", readLongs needs I64");
        }
        MappedByteBuffer mapped = map(info);
        try {
            long[] out = new long[(int) info.numel()];
            mapped.asLongBuffer().get(out);
            return out;
        } finally {
            fastflux.model.DirectBuffers.free(mapped); // the mapping never escaped: unmap now, not at a GC
        }
    }

    /**
     * The tensor as an NDArray of its shape, owned by {@code manager}: F32/F16/BF16 become
     * {@code target} (FLOAT32 or FLOAT16, converted in Java); I64 becomes INT64 (target must be
     * INT64 or a float type, which is ignored). BFLOAT16 is refused: DJL's PyTorch JNI aborts the
     * JVM on bf16, so bf16 bytes are always converted here.
     */
    public NDArray load(String name, NDManager manager, DataType target) {
        TensorInfo info = info(name);
        Shape shape = new Shape(info.shape());
        if (info.dtype() == DType.I64) {
            if (target != DataType.INT64 && target != DataType.FLOAT32 && target != DataType.FLOAT16) {
                throw SafetensorsException.tensor(file, name, "I64 loads as INT64, not " + target);
            }
            return create(info, manager, shape, DataType.INT64, 8);
        }
        if (target != DataType.FLOAT32 && target != DataType.FLOAT16) {
            throw SafetensorsException.tensor(file, name, "cannot load " + info.dtype() + " as " + target
                    + " (supported: FLOAT32, FLOAT16; BFLOAT16 is never created because DJL's PyTorch JNI aborts on it)");
        }
        return create(info, manager, shape, target, target == DataType.FLOAT32 ? 4 : 2);
    }

    private NDArray create(TensorInfo info, NDManager manager, Shape shape, DataType target, int targetBytes) {
        long numel = info.numel();
        long bytes = numel * targetBytes;
        if (bytes > Integer.MAX_VALUE) {
            throw SafetensorsException.tensor(file, info.name(), "as " + target + " is " + bytes
                    + " bytes, over the 2^31-1 byte limit of one ByteBuffer");
        }
        MappedByteBuffer mapped = map(info);
        try {
            // A fresh direct buffer the NDArray may keep: the mapping is released right after.
            ByteBuffer out = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
            boolean sameEncoding = (info.dtype() == DType.F32 && target == DataType.FLOAT32)
                    || (info.dtype() == DType.F16 && target == DataType.FLOAT16)
                    || (info.dtype() == DType.I64 && target == DataType.INT64);
            if (sameEncoding && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
                out.put(mapped);
            } else if (target == DataType.INT64) {
                for (int i = 0; i < numel; i++) {
                    out.putLong(mapped.getLong(8 * i));
                }
            } else {
                for (int i = 0; i < numel; i++) {
                    float v = switch (info.dtype()) {
                        case F32 -> mapped.getFloat(4 * i);
                        case F16 -> Half.f16ToFloat(mapped.getShort(2 * i));
                        case BF16 -> Half.bf16ToFloat(mapped.getShort(2 * i));
                        case I64 -> throw new AssertionError();
                    };
                    if (target == DataType.FLOAT32) {
                        out.putFloat(v);
                    } else {
                        out.putShort(Half.floatToF16(v));
                    }
                }
            }
            out.flip();
            // Copy into libtorch-owned storage: a from_blob tensor lives only as long as its wrapping handle.
            try (NDArray blob = manager.create(out, shape, target)) {
                return blob.duplicate();
            }
        } finally {
            fastflux.model.DirectBuffers.free(mapped); // the mapping never escaped: unmap now, not at a GC
        }
    }

    private void requireFloating(TensorInfo info) {
        if (!info.dtype().isFloating()) {
            throw SafetensorsException.tensor(file, info.name(), "is " + info.dtype()
                    + ", readFloats needs F32, F16 or BF16 (use readLongs)");
        }
    }

    /** Closes the file channel. Later reads fail with a clear error; header queries still work. */
    @Override
    public void close() {
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            throw new SafetensorsException(file, "cannot close: " + e, e);
        }
    }
}
