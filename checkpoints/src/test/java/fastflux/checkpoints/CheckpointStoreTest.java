package fastflux.checkpoints;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointStoreTest {
    static CheckpointStore store(Path dir) {
        return new CheckpointStore(dir, "state", "components", "bin", 1, 2);
    }

    static void write(CheckpointStore s, int n, String payload) {
        JsonObject m = new JsonObject();
        m.addProperty("step", n);
        s.write(n, m, f -> Files.writeString(f, payload));
    }

    static String newest(CheckpointStore s) {
        return s.readNewest((m, payload, n) -> m.get("step").getAsInt() + ":" + Files.readString(payload));
    }

    @Test
    void readsTheNewestAndKeepsOnlyTheLastFew(@TempDir Path dir) throws Exception {
        CheckpointStore s = store(dir);
        assertNull(newest(s), "an empty directory has no checkpoint");
        write(s, 1, "a");
        write(s, 2, "b");
        write(s, 3, "c");
        assertEquals("3:c", newest(s));
        assertEquals(List.of(3, 2), s.numbers());
        assertFalse(Files.exists(s.payloadFile(1)), "checkpoint 1 was dropped with its payload");
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(f -> f.toString().endsWith(".tmp")), "no temp files are left");
        }
    }

    @Test
    void aCorruptPayloadFallsBackToThePreviousCheckpoint(@TempDir Path dir) throws Exception {
        CheckpointStore s = store(dir);
        write(s, 1, "a");
        write(s, 2, "b");
        Files.writeString(s.payloadFile(2), "B"); // same size, other bytes
        assertEquals("1:a", newest(s));
    }

    @Test
    void aKeepAllStoreKeepsEveryCheckpointAndReadsOneByNumber(@TempDir Path dir) throws Exception {
        CheckpointStore s = new CheckpointStore(dir, "stage", "stage-components", "bin", 1, CheckpointStore.KEEP_ALL);
        for (int n = 1; n <= 4; n++) write(s, n, "p" + n);
        assertEquals(List.of(4, 3, 2, 1), s.numbers());
        CheckpointStore.ManifestReader<String> r = (m, payload, n) -> n + ":" + Files.readString(payload);
        assertEquals("2:p2", s.read(2, r));
        assertNull(s.read(7, r), "no such checkpoint");
        Files.writeString(s.payloadFile(3), "q3"); // corrupt: that one is refused, never another in its place
        assertNull(s.read(3, r));
        // a store of another prefix in the same directory neither sees nor deletes these
        CheckpointStore other = store(dir);
        write(other, 1, "a");
        write(other, 2, "b");
        write(other, 3, "c");
        assertEquals(List.of(4, 3, 2, 1), s.numbers());
    }

    @Test
    void aHalfWrittenCheckpointIsInvisible(@TempDir Path dir) throws Exception {
        CheckpointStore s = store(dir);
        write(s, 1, "a");
        // A crash after the payload's rename and before the manifest's: payload 2 without manifest 2.
        Files.writeString(s.payloadFile(2), "b");
        Files.writeString(dir.resolve("state-0002.json.tmp"), "{\"ver");
        assertEquals("1:a", newest(s));
    }

    @Test
    void unparsableManifestsUnknownVersionsAndRejectedStatesFallBack(@TempDir Path dir) throws Exception {
        CheckpointStore s = new CheckpointStore(dir, "state", "components", "bin", 1, 5);
        write(s, 1, "a");
        write(s, 2, "b");
        write(s, 3, "c");
        write(s, 4, "d");
        Files.writeString(s.manifestFile(4), "{ not json");
        Files.writeString(s.manifestFile(3), Files.readString(s.manifestFile(3)).replace("\"version\": 1", "\"version\": 99"));
        assertEquals("2:b", newest(s));
        String accepted = s.readNewest((m, p, n) -> {
            if (n == 2) throw new IllegalArgumentException("the caller rejects this one");
            return Integer.toString(n);
        });
        assertEquals("1", accepted);
    }
}
