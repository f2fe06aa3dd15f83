package fastflux.pruning;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import fastflux.checkpoints.CheckpointStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * In-phase checkpoints of a least-squares collection (issue 36 §1): every {@code every} folded batches, the float64
 * accumulators of each fit exactly as held ({@link LeastSquaresFit.Snapshot}: the sums at their shift, the shift, the
 * token count) and the last batch folded, so that a killed collection resumes after that batch and ends with the same
 * sums, bit for bit, as an uninterrupted one. A {@link CheckpointStore} in {@code dir}: a checksummed JSON manifest
 * ({@code lsq-NNNN.json}) and a raw little-endian payload ({@code lsq-sums-NNNN.f64}), each written to a temp file
 * and renamed into place; a half-written or corrupt checkpoint falls back to the one before.
 *
 * <p>{@code key} names the collection (the block, the blocks done before it, the calibration): a checkpoint of
 * another collection is never applied. The held-out residual pass after the solve is short (a quarter of the
 * batches) and is not checkpointed.
 *
 * @param dir where the checkpoints go (a job's {@code state/lsq})
 * @param every folded batches between two checkpoints; 0: none
 * @param key what is being collected
 */
public record FitCheckpoints(Path dir, int every, String key) {
    /** Manifest format. */
    static final int VERSION = 1;
    /** Checkpoints kept: the newest and one to fall back to. */
    private static final int KEEP = 2;

    /** No checkpoints. */
    public static final FitCheckpoints NONE = new FitCheckpoints(null, 0, "");

    public FitCheckpoints {
        if (every < 0) throw new IllegalArgumentException("every must be >= 0, got " + every);
        if (every > 0 && dir == null) throw new IllegalArgumentException("a checkpoint directory is needed");
    }

    public boolean enabled() {
        return every > 0;
    }

    CheckpointStore store() {
        return new CheckpointStore(dir, "lsq", "lsq-sums", "f64", VERSION, KEEP);
    }

    /**
     * A saved collection: how many batches were folded, the index of the last one (the stream resumes after it), and
     * each fit's accumulators by its name ({@code block/stream}).
     */
    public record Saved(int number, int batches, int lastBatch, Map<String, LeastSquaresFit.Snapshot> fits) {}

    /** Writes checkpoint {@code number} of {@code fits} (in their order) after {@code batches} batches, the last {@code lastBatch}. */
    void write(int number, int batches, int lastBatch, List<LeastSquaresFit> fits) {
        List<LeastSquaresFit.Snapshot> snaps = new ArrayList<>();
        for (LeastSquaresFit f : fits) snaps.add(f.snapshot());
        JsonObject m = new JsonObject();
        m.addProperty("key", key);
        m.addProperty("batches", batches);
        m.addProperty("last_batch", lastBatch);
        JsonArray a = new JsonArray();
        for (int i = 0; i < fits.size(); i++) {
            JsonObject f = new JsonObject();
            f.addProperty("name", fits.get(i).blockName());
            f.addProperty("in", fits.get(i).inDim());
            f.addProperty("out", fits.get(i).outDim());
            f.addProperty("tokens", snaps.get(i).tokens());
            f.addProperty("shifted", snaps.get(i).shift() != null);
            a.add(f);
        }
        m.add("fits", a);
        store().write(number, m, out -> {
            for (LeastSquaresFit.Snapshot s : snaps) {
                if (s.shift() != null) {
                    ByteBuffer b = ByteBuffer.allocate(4 * s.shift().length).order(ByteOrder.LITTLE_ENDIAN);
                    b.asFloatBuffer().put(s.shift());
                    writeFully(out, b);
                }
                writeDoubles(out, s.gram());
                writeDoubles(out, s.cross());
            }
        });
    }

    private static void writeDoubles(java.nio.channels.WritableByteChannel out, double[] v) throws IOException {
        int chunk = 1 << 16;
        ByteBuffer b = ByteBuffer.allocate(8 * chunk).order(ByteOrder.LITTLE_ENDIAN);
        for (int from = 0; from < v.length; from += chunk) {
            int n = Math.min(chunk, v.length - from);
            b.clear();
            b.asDoubleBuffer().put(v, from, n);
            b.limit(8 * n);
            writeFully(out, b);
        }
    }

    private static void writeFully(java.nio.channels.WritableByteChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) out.write(b);
    }

    /** The newest checkpoint of this collection that verifies, or null (none, or only other collections'). */
    Saved readNewest() {
        if (!enabled() || !Files.isDirectory(dir)) return null;
        CheckpointStore store = store();
        store.deleteStaleTempFiles();
        return store.readNewest((json, payload, n) -> {
            if (!json.get("key").getAsString().equals(key)) {
                throw new IllegalArgumentException("a checkpoint of another collection (" + json.get("key").getAsString() + ")");
            }
            Map<String, LeastSquaresFit.Snapshot> fits = new LinkedHashMap<>();
            try (FileChannel ch = FileChannel.open(payload, StandardOpenOption.READ)) {
                for (var e : json.getAsJsonArray("fits")) {
                    JsonObject f = e.getAsJsonObject();
                    int in = f.get("in").getAsInt();
                    int out = f.get("out").getAsInt();
                    float[] shift = null;
                    if (f.get("shifted").getAsBoolean()) {
                        ByteBuffer b = readFully(ch, 4L * in);
                        shift = new float[in];
                        b.asFloatBuffer().get(shift);
                    }
                    double[] gram = new double[(in + 1) * (in + 1)];
                    readFully(ch, 8L * gram.length).asDoubleBuffer().get(gram);
                    double[] cross = new double[(in + 1) * out];
                    readFully(ch, 8L * cross.length).asDoubleBuffer().get(cross);
                    fits.put(f.get("name").getAsString(), new LeastSquaresFit.Snapshot(f.get("tokens").getAsLong(), shift, gram, cross));
                }
                if (ch.position() != ch.size()) throw new IOException("payload has " + (ch.size() - ch.position()) + " bytes too many");
            }
            return new Saved(n, json.get("batches").getAsInt(), json.get("last_batch").getAsInt(), fits);
        });
    }

    private static ByteBuffer readFully(FileChannel ch, long bytes) throws IOException {
        if (bytes > Integer.MAX_VALUE) throw new IOException("a fit of " + bytes + " bytes is too large to read at once");
        ByteBuffer b = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) throw new IOException("payload ends early");
        }
        b.flip();
        return b;
    }

    /** Deletes every checkpoint in {@code dir} (the collection is solved and its result saved elsewhere). */
    public static void clear(Path dir) {
        if (dir == null || !Files.isDirectory(dir)) return;
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                String n = f.getFileName().toString();
                if (n.startsWith("lsq-") || n.startsWith(".lsq-")) Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete the least-squares checkpoints in " + dir, e);
        }
    }
}
