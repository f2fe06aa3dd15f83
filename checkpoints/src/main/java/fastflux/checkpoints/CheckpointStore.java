package fastflux.checkpoints;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Numbered checkpoints in one directory, each a pair: a payload file (e.g. safetensors of trained
 * components) and a versioned JSON manifest that names the payload and records its SHA-256 and its own.
 *
 * <p>Write order makes a crash at any moment harmless: the payload is written through {@link AtomicFiles} (temp
 * file, fsync, rename, fsync of the directory), then the manifest the same way; a checkpoint exists only once its
 * manifest does. Reading walks from the newest manifest down and returns the first whose own checksum holds,
 * whose JSON parses, whose version is known, whose payload matches its checksum and which the caller accepts, so
 * a corrupted, half-written or inapplicable checkpoint falls back to the previous good one. The newest
 * {@code keep} checkpoints are kept, older ones deleted. A full disk fails a write with a
 * {@link DiskFullException} and leaves the checkpoints before it as they were.
 *
 * <pre>
 *   {prefix}-0007.json          {"manifest_sha256": "…", …, "version": 3, "payload": "{payloadPrefix}-0007.{ext}", "payload_sha256": "…"}
 *   {payloadPrefix}-0007.{ext}
 * </pre>
 *
 * <p>{@code manifest_sha256}, the manifest's first key, is the hex SHA-256 of the manifest file's bytes with
 * these 64 hex digits themselves written as {@code 0}s: any change to the file, even one that leaves valid JSON
 * (a block name's digit), is caught. A manifest without it is read only if its version is one the caller names
 * as a format without it ({@link #alsoReadingUnchecksummed}); others are refused.
 */
public final class CheckpointStore {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointStore.class);

    /** Writes a checkpoint's payload into the given channel (the payload's temp file). */
    @FunctionalInterface
    public interface PayloadWriter {
        void write(WritableByteChannel out) throws IOException;
    }

    /** Turns a verified manifest into the caller's state; may throw to reject it (the reader falls back). */
    @FunctionalInterface
    public interface ManifestReader<T> {
        T read(JsonObject manifest, Path payload, int number) throws IOException;
    }

    /** A {@code keep} that deletes nothing: every checkpoint written stays. */
    public static final int KEEP_ALL = Integer.MAX_VALUE;

    /** The manifest's key for its own checksum. */
    public static final String MANIFEST_SHA256 = "manifest_sha256";
    private static final String UNSEALED = "0".repeat(64);
    private static final Pattern SEAL = Pattern.compile("\"" + MANIFEST_SHA256 + "\"\\s*:\\s*\"([0-9a-f]{64})\"");
    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().serializeNulls().serializeSpecialFloatingPointValues().create();

    private final Path dir;
    private final String prefix;
    private final String payloadPrefix;
    private final String payloadExtension;
    private final int version;
    private final int keep;
    private final Set<Integer> unchecksummed;
    private final Pattern manifestName;
    private final Pattern anyName;
    private final Pattern tempName;

    /**
     * A store of checkpoints {@code {prefix}-NNNN.json} and {@code {payloadPrefix}-NNNN.{payloadExtension}} in
     * {@code dir}, written and read in {@code version}, keeping the newest {@code keep}.
     */
    public CheckpointStore(Path dir, String prefix, String payloadPrefix, String payloadExtension, int version, int keep) {
        this(dir, prefix, payloadPrefix, payloadExtension, version, keep, Set.of());
    }

    private CheckpointStore(Path dir, String prefix, String payloadPrefix, String payloadExtension, int version, int keep,
                            Set<Integer> unchecksummed) {
        if (keep < 1) throw new IllegalArgumentException("keep must be >= 1, got " + keep);
        this.dir = dir;
        this.prefix = prefix;
        this.payloadPrefix = payloadPrefix;
        this.payloadExtension = payloadExtension;
        this.version = version;
        this.keep = keep;
        this.unchecksummed = Set.copyOf(unchecksummed);
        String manifest = Pattern.quote(prefix) + "-(\\d{4,})\\.json";
        String payload = Pattern.quote(payloadPrefix) + "-(\\d{4,})\\." + Pattern.quote(payloadExtension);
        this.manifestName = Pattern.compile(manifest);
        this.anyName = Pattern.compile("(?:" + manifest + "|" + payload + ")");
        // the temps a write of NAME can leave: AtomicFiles' ".NAME.HEX.tmp", and "NAME.tmp" and ".NAME.tmp.HEX.tmp"
        // of a payload written under a fixed temp name by a writer that itself writes through a temp
        this.tempName = Pattern.compile("\\.?(?:" + manifest + "|" + payload + ")(?:\\.tmp)?(?:\\.[0-9a-f]+)?\\.tmp");
    }

    /**
     * This store, also reading manifests of {@code olderVersion}, a format without {@code manifest_sha256}: those
     * load without it (and are held to it where they have one). Manifests of the store's own version must carry it.
     */
    public CheckpointStore alsoReadingUnchecksummed(int olderVersion) {
        if (olderVersion >= version) {
            throw new IllegalArgumentException("version " + olderVersion + " is not older than " + version);
        }
        Set<Integer> v = new HashSet<>(unchecksummed);
        v.add(olderVersion);
        return new CheckpointStore(dir, prefix, payloadPrefix, payloadExtension, version, keep, v);
    }

    public Path dir() {
        return dir;
    }

    public Path manifestFile(int number) {
        return dir.resolve(String.format("%s-%04d.json", prefix, number));
    }

    public Path payloadFile(int number) {
        return dir.resolve(String.format("%s-%04d.%s", payloadPrefix, number, payloadExtension));
    }

    /**
     * Writes checkpoint {@code number}: the payload, then {@code manifest} with version, payload name and both
     * checksums added (each through {@link AtomicFiles#write}); then deletes checkpoints older than the newest
     * {@code keep}.
     *
     * @throws DiskFullException if the file system is full (the checkpoints before this one are untouched)
     */
    public void write(int number, JsonObject manifest, PayloadWriter payload) {
        String what = String.format("cannot write checkpoint %s-%04d to %s", prefix, number, dir);
        long t0 = System.nanoTime();
        try {
            Files.createDirectories(dir);
            Path file = payloadFile(number);
            AtomicFiles.write(file, payload::write);
            JsonObject m = new JsonObject();
            m.addProperty(MANIFEST_SHA256, UNSEALED); // first, so that no key of the caller's comes before it
            for (var e : manifest.entrySet()) if (!e.getKey().equals(MANIFEST_SHA256)) m.add(e.getKey(), e.getValue().deepCopy());
            m.addProperty("version", version);
            m.addProperty("payload", file.getFileName().toString());
            m.addProperty("payload_sha256", AtomicFiles.sha256(file));
            AtomicFiles.write(manifestFile(number), out -> AtomicFiles.writeFully(out, ByteBuffer.wrap(seal(GSON.toJson(m)))));
            deleteOlderThan(number - keep + 1);
            CheckpointMetrics.written(prefix, t0);
        } catch (DiskFullException e) {
            throw e.during(what);
        } catch (IOException e) {
            if (DiskFullException.isNoSpace(e)) throw new DiskFullException(what + ": " + e.getMessage(), e);
            throw new UncheckedIOException(what, e);
        }
    }

    /** The manifest's bytes with its {@code manifest_sha256} (written as zeros in {@code text}) filled in. */
    private static byte[] seal(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        // ISO-8859-1 maps byte i to char i, so offsets in the string are offsets in the bytes
        Matcher m = SEAL.matcher(new String(bytes, StandardCharsets.ISO_8859_1));
        if (!m.find() || !m.group(1).equals(UNSEALED)) throw new IllegalStateException("the manifest lost its checksum key");
        byte[] sum = AtomicFiles.sha256(bytes).getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(sum, 0, bytes, m.start(1), sum.length);
        return bytes;
    }

    /** The hex digits of the manifest's first {@code manifest_sha256}, or null if it has none. */
    private static String sealOf(byte[] bytes) {
        Matcher m = SEAL.matcher(new String(bytes, StandardCharsets.ISO_8859_1));
        return m.find() ? m.group(1) : null;
    }

    /** The SHA-256 of a sealed manifest's bytes with its checksum's digits as zeros: what its checksum should be. */
    private static String expectedSeal(byte[] bytes) {
        Matcher m = SEAL.matcher(new String(bytes, StandardCharsets.ISO_8859_1));
        if (!m.find()) throw new IllegalArgumentException("no " + MANIFEST_SHA256);
        byte[] zeroed = bytes.clone();
        byte[] zeros = UNSEALED.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(zeros, 0, zeroed, m.start(1), zeros.length);
        return AtomicFiles.sha256(zeroed);
    }

    /**
     * Deletes the temp files this store's writes leave when the process dies mid-write (only names made from this
     * store's checkpoint names; nothing else in the directory). For the one process that writes here, when it
     * opens the directory; returns what it deleted.
     */
    public List<Path> deleteStaleTempFiles() {
        List<Path> deleted = new ArrayList<>();
        if (!Files.isDirectory(dir)) return deleted;
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                if (tempName.matcher(f.getFileName().toString()).matches() && Files.isRegularFile(f) && Files.deleteIfExists(f)) {
                    deleted.add(f);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot clean temp files in " + dir, e);
        }
        if (!deleted.isEmpty()) LOG.info("deleted {} temp file(s) left by an interrupted write in {}: {}", deleted.size(), dir, deleted);
        return deleted;
    }

    /** Checkpoint numbers with a manifest present, newest first. */
    public List<Integer> numbers() {
        List<Integer> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) return out;
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Matcher m = manifestName.matcher(f.getFileName().toString());
                if (m.matches()) out.add(Integer.parseInt(m.group(1)));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
        out.sort(Comparator.reverseOrder());
        return out;
    }

    /** The newest checkpoint that verifies and that {@code reader} accepts; null if none does. */
    public <T> T readNewest(ManifestReader<T> reader) {
        for (int n : numbers()) {
            T t = read(n, reader);
            if (t != null) return t;
        }
        return null;
    }

    /** Checkpoint {@code number} if it exists, verifies and {@code reader} accepts it; null otherwise (logged why). */
    public <T> T read(int number, ManifestReader<T> reader) {
        Path manifest = manifestFile(number);
        if (!Files.isRegularFile(manifest)) return null;
        try {
            byte[] bytes = Files.readAllBytes(manifest);
            String sealedWith = sealOf(bytes);
            if (sealedWith != null && !sealedWith.equals(expectedSeal(bytes))) {
                LOG.warn("checkpoint {} is corrupt (manifest checksum mismatch); falling back", manifest);
                return null;
            }
            JsonObject json = JsonParser.parseString(new String(bytes, StandardCharsets.UTF_8)).getAsJsonObject();
            int v = json.has("version") ? json.get("version").getAsInt() : -1;
            if (v != version && !unchecksummed.contains(v)) {
                LOG.warn("checkpoint {} has version {} (this store reads {}); falling back", manifest, json.get("version"),
                        unchecksummed.isEmpty() ? version : version + " and " + unchecksummed);
                return null;
            }
            if (sealedWith == null && !unchecksummed.contains(v)) {
                LOG.warn("checkpoint {} is corrupt (no {}, which version {} manifests carry); falling back", manifest,
                        MANIFEST_SHA256, v);
                return null;
            }
            if (sealedWith != null && !(json.has(MANIFEST_SHA256) && sealedWith.equals(json.get(MANIFEST_SHA256).getAsString()))) {
                LOG.warn("checkpoint {} is corrupt ({} is not the manifest's first key); falling back", manifest, MANIFEST_SHA256);
                return null;
            }
            Path payload = dir.resolve(json.get("payload").getAsString());
            if (!Files.isRegularFile(payload)) {
                LOG.warn("checkpoint {}: payload {} is missing; falling back", manifest, payload.getFileName());
                return null;
            }
            if (!AtomicFiles.sha256(payload).equals(json.get("payload_sha256").getAsString())) {
                LOG.warn("checkpoint {} is corrupt (payload checksum mismatch); falling back", manifest);
                return null;
            }
            try {
                return reader.read(json, payload, number);
            } catch (IOException | RuntimeException e) {
                LOG.warn("checkpoint {} is refused ({}); falling back", manifest, e.toString());
                return null;
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("checkpoint {} is unreadable ({}); falling back", manifest, e.toString());
            return null;
        }
    }

    private void deleteOlderThan(int oldestKept) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Matcher m = anyName.matcher(f.getFileName().toString());
                if (!m.matches()) continue;
                int n = Integer.parseInt(m.group(1) != null ? m.group(1) : m.group(2));
                if (n < oldestKept) Files.deleteIfExists(f);
            }
        }
    }
}
