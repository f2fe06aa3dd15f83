package fastflux.pipeline.world;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The text encoders' outputs for a job's prompts, computed once and kept on disk: a safetensors file with {@code txt}
 * [N, L, context] (T5) and {@code y} [N, vec] (CLIP's pooled output), F32, the prompts in its metadata, and beside it
 * a {@code .sha256} of the file. Its name is keyed by the prompts, T5's max sequence length and the encoders' identity
 * (their files' names and sizes and their configs' text), so a resumed job finds it and a changed one does not. A file
 * whose checksum does not match, or that cannot be read, is named in a warning and built again.
 *
 * <p>Rows are read from the file per batch, so the cache is never resident as a whole (at 512 tokens a FLUX.1 prompt
 * is 8 MB of T5 states).
 */
public final class EmbeddingCache implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EmbeddingCache.class);

    /** How the cache was come by: built (none there), reused, or rebuilt (one there was corrupt or unreadable). */
    public enum Status { BUILT, REUSED, REBUILT }

    /** Writes the encoders' rows: {@code txt} rows of prompt {@code from} on, then {@code y} rows likewise. */
    public interface Sink {
        void txt(int from, float[] rows);

        void y(int from, float[] rows);
    }

    /** Runs the text encoders over the prompts (in chunks), writing every row to the sink. */
    public interface Encoder {
        void encode(List<String> prompts, Sink sink);
    }

    private final Path file;
    private final FileChannel channel;
    private final Map<String, Integer> rows = new HashMap<>();
    private final int n;
    private final int length;
    private final int context;
    private final int vec;
    private final long txtStart;
    private final long yStart;
    private final Status status;
    private final String detail;

    private EmbeddingCache(Path file, Status status, String detail) throws IOException {
        this.file = file;
        this.status = status;
        this.detail = detail;
        this.channel = FileChannel.open(file, StandardOpenOption.READ);
        JsonObject h = header(channel, file);
        JsonObject meta = h.getAsJsonObject("__metadata__");
        JsonArray prompts = JsonParser.parseString(meta.get("prompts").getAsString()).getAsJsonArray();
        for (int i = 0; i < prompts.size(); i++) rows.putIfAbsent(prompts.get(i).getAsString(), i);
        long[] txt = shape(h, "txt");
        long[] y = shape(h, "y");
        this.n = (int) txt[0];
        this.length = (int) txt[1];
        this.context = (int) txt[2];
        this.vec = (int) y[1];
        long dataStart = 8 + headerLength(channel);
        this.txtStart = dataStart + h.getAsJsonObject("txt").getAsJsonArray("data_offsets").get(0).getAsLong();
        this.yStart = dataStart + h.getAsJsonObject("y").getAsJsonArray("data_offsets").get(0).getAsLong();
        if (prompts.size() != n || y[0] != n) throw new IOException(file + ": " + prompts.size() + " prompts for " + n + " rows");
    }

    /**
     * The cache of {@code prompts} (distinct) in {@code dir}: reused when a file of the same key is there and its
     * checksum matches, else built with {@code encoder} and written (to a temporary file, renamed into place).
     *
     * @param identity the encoders' identity ({@link #identity})
     */
    public static EmbeddingCache open(Path dir, List<String> prompts, int maxSequenceLength, String identity, int context,
                                      int vec, Encoder encoder) {
        String key = sha256((identity + "\n" + maxSequenceLength + "\n" + prompts.size() + "\n" + String.join("\n", prompts))
                .getBytes(StandardCharsets.UTF_8));
        Path file = dir.resolve("embeddings-" + key.substring(0, 16) + ".safetensors");
        Path sum = checksumFile(file);
        Status status = Status.BUILT;
        String detail = "built " + file;
        try {
            Files.createDirectories(dir);
            if (Files.exists(file) || Files.exists(sum)) {
                String problem = problem(file, prompts, maxSequenceLength);
                if (problem == null) return new EmbeddingCache(file, Status.REUSED, "reused " + file);
                log.warn("embedding cache {} is corrupt ({}): building it again", file, problem);
                status = Status.REBUILT;
                detail = "rebuilt " + file + ": " + problem;
            }
            build(file, prompts, maxSequenceLength, identity, context, vec, encoder);
            return new EmbeddingCache(file, status, detail);
        } catch (IOException e) {
            throw new UncheckedIOException("embedding cache " + file + ": " + e.getMessage(), e);
        }
    }

    /** What is wrong with the cache file, or null when it is whole and holds these prompts. */
    private static String problem(Path file, List<String> prompts, int msl) {
        Path sum = checksumFile(file);
        try {
            if (!Files.isRegularFile(file)) return "the file is missing beside its checksum";
            if (!Files.isRegularFile(sum)) return "no checksum file " + sum.getFileName();
            String want = Files.readString(sum).trim().split("\\s+")[0];
            String got = sha256(file);
            if (!want.equalsIgnoreCase(got)) return "sha256 " + got + " does not match " + sum.getFileName() + "'s " + want;
            try (FileChannel c = FileChannel.open(file, StandardOpenOption.READ)) {
                JsonObject meta = header(c, file).getAsJsonObject("__metadata__");
                JsonArray saved = JsonParser.parseString(meta.get("prompts").getAsString()).getAsJsonArray();
                if (saved.size() != prompts.size()) return "it holds " + saved.size() + " prompts, not " + prompts.size();
                for (int i = 0; i < saved.size(); i++) {
                    if (!saved.get(i).getAsString().equals(prompts.get(i))) return "prompt " + i + " differs";
                }
                if (Integer.parseInt(meta.get("max_sequence_length").getAsString()) != msl) return "another max sequence length";
            }
            return null;
        } catch (IOException | RuntimeException e) {
            return "unreadable: " + e.getMessage();
        }
    }

    private static void build(Path file, List<String> prompts, int msl, String identity, int context, int vec,
                              Encoder encoder) throws IOException {
        int n = prompts.size();
        long txtBytes = 4L * n * msl * context;
        long yBytes = 4L * n * vec;
        JsonObject h = new JsonObject();
        JsonObject meta = new JsonObject();
        meta.addProperty("prompts", new Gson().toJson(prompts));
        meta.addProperty("max_sequence_length", Integer.toString(msl));
        meta.addProperty("encoders", identity);
        h.add("__metadata__", meta);
        h.add("txt", tensor(new long[] {n, msl, context}, 0, txtBytes));
        h.add("y", tensor(new long[] {n, vec}, txtBytes, txtBytes + yBytes));
        byte[] json = h.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();
        long dataStart = 8L + padded;
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        boolean[] written = new boolean[2 * n];
        try (FileChannel c = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(c, head, 0);
            encoder.encode(prompts, new Sink() {
                @Override
                public void txt(int from, float[] rows) {
                    put(c, rows, dataStart + 4L * from * msl * context, msl * context, from, written, 0);
                }

                @Override
                public void y(int from, float[] rows) {
                    put(c, rows, dataStart + txtBytes + 4L * from * vec, vec, from, written, n);
                }
            });
            for (int i = 0; i < written.length; i++) {
                if (!written[i]) throw new IllegalStateException("the encoders left " + (i < n ? "txt" : "y") + " row " + (i % n) + " unwritten");
            }
            c.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Path sum = checksumFile(file);
        Path sumTmp = sum.resolveSibling(sum.getFileName() + ".tmp");
        Files.writeString(sumTmp, sha256(file) + "  " + file.getFileName() + "\n");
        Files.move(sumTmp, sum, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void put(FileChannel c, float[] rows, long at, int rowLen, int from, boolean[] written, int mark) {
        if (rows.length % rowLen != 0) throw new IllegalArgumentException(rows.length + " values are not whole rows of " + rowLen);
        ByteBuffer b = ByteBuffer.allocate(rows.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(rows);
        try {
            writeFully(c, b, at);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (int r = 0; r < rows.length / rowLen; r++) written[mark + from + r] = true;
    }

    private static void writeFully(FileChannel c, ByteBuffer b, long at) throws IOException {
        long pos = at;
        while (b.hasRemaining()) pos += c.write(b, pos);
    }

    private static JsonObject tensor(long[] shape, long from, long to) {
        JsonObject t = new JsonObject();
        t.addProperty("dtype", "F32");
        JsonArray s = new JsonArray();
        for (long d : shape) s.add(d);
        t.add("shape", s);
        JsonArray o = new JsonArray();
        o.add(from);
        o.add(to);
        t.add("data_offsets", o);
        return t;
    }

    private static long headerLength(FileChannel c) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(c, b, 0);
        return b.flip().getLong();
    }

    private static JsonObject header(FileChannel c, Path file) throws IOException {
        long len = headerLength(c);
        if (len <= 0 || len > 1L << 30 || len + 8 > c.size()) throw new IOException(file + ": bad safetensors header length " + len);
        ByteBuffer b = ByteBuffer.allocate((int) len);
        readFully(c, b, 8);
        return JsonParser.parseString(new String(b.array(), StandardCharsets.UTF_8)).getAsJsonObject();
    }

    private static long[] shape(JsonObject h, String name) {
        JsonArray a = h.getAsJsonObject(name).getAsJsonArray("shape");
        long[] s = new long[a.size()];
        for (int i = 0; i < s.length; i++) s[i] = a.get(i).getAsLong();
        return s;
    }

    private static void readFully(FileChannel c, ByteBuffer b, long at) throws IOException {
        long pos = at;
        while (b.hasRemaining()) {
            int r = c.read(b, pos);
            if (r < 0) throw new IOException("unexpected end of file at " + pos);
            pos += r;
        }
    }

    /** Row of {@code prompt}, or -1 when the cache does not hold it. */
    public int row(String prompt) {
        return rows.getOrDefault(prompt, -1);
    }

    /** Copies row {@code row}'s txt ({@code length * context} values) and y ({@code vec}) into the arrays at the offsets. */
    public void read(int row, float[] txt, int txtAt, float[] y, int yAt) {
        try {
            ByteBuffer t = ByteBuffer.allocate(4 * length * context).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, t, txtStart + 4L * row * length * context);
            t.flip().asFloatBuffer().get(txt, txtAt, length * context);
            ByteBuffer v = ByteBuffer.allocate(4 * vec).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, v, yStart + 4L * row * vec);
            v.flip().asFloatBuffer().get(y, yAt, vec);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read row " + row + " of " + file, e);
        }
    }

    public int size() {
        return n;
    }

    public Path file() {
        return file;
    }

    public Status status() {
        return status;
    }

    /** What happened when it was opened, e.g. {@code rebuilt FILE: sha256 ... does not match}. */
    public String detail() {
        return detail;
    }

    public static Path checksumFile(Path file) {
        return file.resolveSibling(file.getFileName() + ".sha256");
    }

    /**
     * The text encoders' identity for the cache key: every file under {@code dirs} by relative name and size, and the
     * text of their JSON files (configs, tokenizers). The weights are not hashed: T5-XXL is 9.5 GB.
     */
    public static String identity(Path root, List<String> dirs) {
        StringBuilder sb = new StringBuilder();
        for (String d : dirs) {
            Path dir = root.resolve(d);
            try (var files = Files.walk(dir)) {
                for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                    sb.append(root.relativize(f)).append(' ').append(Files.size(f)).append('\n');
                    if (f.getFileName().toString().endsWith(".json") && Files.size(f) < (64 << 20)) {
                        sb.append(sha256(Files.readAllBytes(f))).append('\n');
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list the text encoders' " + dir, e);
            }
        }
        return sha256(sb.toString().getBytes(StandardCharsets.UTF_8));
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String sha256(Path file) throws IOException {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
            byte[] buf = new byte[1 << 20];
            while (in.read(buf) >= 0) {
                // digesting
            }
            return HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
