package fastflux.pipeline.layout;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tensor names, dtypes and shapes of a safetensors file, read from its header alone. Unlike
 * {@code SafetensorsReader} it accepts every dtype name, so that layouts can be recognised and quantized files
 * refused by what they hold before any tensor is read.
 */
public record SafetensorsHeader(Path file, Map<String, Entry> tensors) {

    /** One header entry: the dtype as the file names it ("BF16", "F8_E4M3", "U8", ...) and the shape. */
    public record Entry(String dtype, long[] shape) {}

    public SafetensorsHeader {
        tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
    }

    /** @throws IllegalArgumentException naming the file when it is not a safetensors file */
    public static SafetensorsHeader read(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, len, file);
            long n = len.flip().getLong();
            if (n <= 0 || n > 100L * 1024 * 1024 || 8 + n > ch.size()) {
                throw new IllegalArgumentException(file + ": not a safetensors file (header length " + n + ")");
            }
            ByteBuffer json = ByteBuffer.allocate((int) n);
            readFully(ch, json, file);
            JsonElement root = JsonParser.parseString(new String(json.array(), StandardCharsets.UTF_8));
            if (!root.isJsonObject()) throw new IllegalArgumentException(file + ": safetensors header is not a JSON object");
            Map<String, Entry> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> e : root.getAsJsonObject().entrySet()) {
                if (e.getKey().equals("__metadata__")) continue;
                JsonObject o = e.getValue().getAsJsonObject();
                var shapeJson = o.getAsJsonArray("shape");
                long[] shape = new long[shapeJson.size()];
                for (int i = 0; i < shape.length; i++) shape[i] = shapeJson.get(i).getAsLong();
                tensors.put(e.getKey(), new Entry(o.get("dtype").getAsString(), shape));
            }
            return new SafetensorsHeader(file, tensors);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        } catch (JsonParseException | IllegalStateException | ClassCastException | NullPointerException e) {
            throw new IllegalArgumentException(file + ": corrupt safetensors header: " + e.getMessage(), e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer b, Path file) throws IOException {
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) throw new IllegalArgumentException(file + ": truncated safetensors header");
        }
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** The shape of {@code name}, or null when the file has no such tensor. */
    public long[] shape(String name) {
        Entry e = tensors.get(name);
        return e == null ? null : e.shape();
    }
}
