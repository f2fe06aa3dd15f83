package fastflux.checkpoints;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Numbered checkpoints in one directory, each a pair: a payload file (e.g. safetensors of trained
 * components) and a versioned JSON manifest that names the payload and records its SHA-256.
 *
 * <p>Write order makes a crash at any moment harmless: the payload goes to a temp name and is renamed into
 * place, then the manifest the same way; a checkpoint exists only once its manifest does. Reading walks from
 * the newest manifest down and returns the first whose JSON parses, whose version is known and whose payload
 * matches its checksum, so a corrupted or half-written checkpoint falls back to the previous good one. The
 * newest {@code keep} checkpoints are kept, older ones deleted.
 *
 * <pre>
 *   {prefix}-0007.json          {"version": 1, "payload": "{payloadPrefix}-0007.{ext}", "payload_sha256": "…", …}
 *   {payloadPrefix}-0007.{ext}
 * </pre>
 */
public final class CheckpointStore {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointStore.class);

    /** Writes a checkpoint's payload to the given (temporary) path. */
    @FunctionalInterface
    public interface PayloadWriter {
        void write(Path file) throws IOException;
    }

    /** Turns a verified manifest into the caller's state; may throw to reject it (the reader falls back). */
    @FunctionalInterface
    public interface ManifestReader<T> {
        T read(JsonObject manifest, Path payload, int number) throws IOException;
    }

    /** A {@code keep} that deletes nothing: every checkpoint written stays. */
    public static final int KEEP_ALL = Integer.MAX_VALUE;

    private final Path dir;
    private final String prefix;
    private final String payloadPrefix;
    private final String payloadExtension;
    private final int version;
    private final int keep;
    private final Pattern manifestName;
    private final Pattern anyName;

    public CheckpointStore(Path dir, String prefix, String payloadPrefix, String payloadExtension, int version, int keep) {
        if (keep < 1) throw new IllegalArgumentException("keep must be >= 1, got " + keep);
        this.dir = dir;
        this.prefix = prefix;
        this.payloadPrefix = payloadPrefix;
        this.payloadExtension = payloadExtension;
        this.version = version;
        this.keep = keep;
        this.manifestName = Pattern.compile(Pattern.quote(prefix) + "-(\\d{4,})\\.json");
        this.anyName = Pattern.compile("(?:" + Pattern.quote(prefix) + "-(\\d{4,})\\.json|"
                + Pattern.quote(payloadPrefix) + "-(\\d{4,})\\." + Pattern.quote(payloadExtension) + ")");
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
     * Writes checkpoint {@code number}: the payload (temp + rename), then {@code manifest} with version,
     * payload name and checksum added (temp + rename); then deletes checkpoints older than the newest {@code keep}.
     */
    public void write(int number, JsonObject manifest, PayloadWriter payload) {
        try {
            Files.createDirectories(dir);
            Path file = payloadFile(number);
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            payload.write(tmp);
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            JsonObject m = manifest.deepCopy();
            m.addProperty("version", version);
            m.addProperty("payload", file.getFileName().toString());
            m.addProperty("payload_sha256", AtomicFiles.sha256(file));
            AtomicFiles.writeString(manifestFile(number),
                    new GsonBuilder().setPrettyPrinting().serializeNulls().serializeSpecialFloatingPointValues().create().toJson(m));
            deleteOlderThan(number - keep + 1);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + number + " to " + dir, e);
        }
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
            JsonObject json = JsonParser.parseString(Files.readString(manifest)).getAsJsonObject();
            if (!json.has("version") || json.get("version").getAsInt() != version) {
                LOG.warn("checkpoint {} has version {} (expected {}); falling back", manifest, json.get("version"), version);
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
            return reader.read(json, payload, number);
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
