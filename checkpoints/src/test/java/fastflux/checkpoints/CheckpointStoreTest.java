package fastflux.checkpoints;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointStoreTest {
    static CheckpointStore store(Path dir) {
        return new CheckpointStore(dir, "state", "components", "bin", 1, 2);
    }

    static void write(CheckpointStore s, int n, String payload) {
        JsonObject m = new JsonObject();
        m.addProperty("step", n);
        m.addProperty("block", "double_blocks." + n);
        s.write(n, m, out -> AtomicFiles.writeFully(out, ByteBuffer.wrap(payload.getBytes(StandardCharsets.UTF_8))));
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
        write(new CheckpointStore(dir, "state", "components", "bin", 99, 5), 3, "c"); // a version this store does not know
        write(s, 4, "d");
        Files.writeString(s.manifestFile(4), "{ not json");
        assertEquals("2:b", newest(s));
        String accepted = s.readNewest((m, p, n) -> {
            if (n == 2) throw new IllegalArgumentException("the caller rejects this one");
            return Integer.toString(n);
        });
        assertEquals("1", accepted);
    }

    @Test
    void aManifestAlteredIntoOtherValidJsonFallsBack(@TempDir Path dir) throws Exception {
        CheckpointStore s = store(dir);
        write(s, 1, "a");
        write(s, 2, "b");
        String text = Files.readString(s.manifestFile(2));
        assertTrue(text.startsWith("{\n  \"manifest_sha256\": \""), "the checksum is the first key: " + text);
        // one bit: '2' (0x32) -> '0' (0x30), still valid JSON naming a real block
        Files.writeString(s.manifestFile(2), text.replace("\"double_blocks.2\"", "\"double_blocks.0\""));
        assertEquals("1:a", newest(s));
    }

    @Test
    void manifestsWithoutAChecksumLoadOnlyInTheVersionsNamedAsOlder(@TempDir Path dir) throws Exception {
        CheckpointStore s = new CheckpointStore(dir, "state", "components", "bin", 3, 5);
        write(s, 1, "a");
        write(s, 2, "b");
        write(s, 3, "c");
        // 3: the checksum's key lost (one bit, 'h' -> 'i'): in this version every manifest carries one, so it is refused
        Files.writeString(s.manifestFile(3), Files.readString(s.manifestFile(3)).replace("\"manifest_sha256\"", "\"manifest_sia256\""));
        // 2: a manifest of version 2, which has no checksum of its own
        JsonObject two = com.google.gson.JsonParser.parseString(Files.readString(s.manifestFile(2))).getAsJsonObject();
        two.remove(CheckpointStore.MANIFEST_SHA256);
        two.addProperty("version", 2);
        Files.writeString(s.manifestFile(2), two.toString());
        assertEquals("1:a", newest(s), "a store of version 3 alone reads neither");
        CheckpointStore compatible = s.alsoReadingUnchecksummed(2);
        assertEquals("2:b", newest(compatible), "version 2 without a checksum loads");
        // ... and a version 2 manifest that has one is held to it
        write(s, 4, "d");
        Files.writeString(s.manifestFile(4), Files.readString(s.manifestFile(4)).replace("\"version\": 3", "\"version\": 2"));
        assertEquals("2:b", newest(compatible));
        assertThrows(IllegalArgumentException.class, () -> s.alsoReadingUnchecksummed(3));
    }

    @Test
    void staleTempFilesOfThisStoreAreDeletedAndNothingElse(@TempDir Path dir) throws Exception {
        CheckpointStore s = store(dir);
        write(s, 1, "a");
        List<String> stale = List.of(".state-0002.json.5f3a9c0d1e2b4a67.tmp", ".components-0002.bin.8e0c.tmp",
                "state-0002.json.tmp", "components-0002.bin.tmp", ".components-0002.bin.tmp.a1b2c3.tmp");
        List<String> kept = List.of("notes.tmp", ".stage-0002.json.5f3a.tmp", "state-0002.json.tmp.bak", "mystate-0002.json.tmp",
                ".state-0002.json.not-hex.tmp", "components-0002.bin.txt", "jobs.json.tmp", "state-x.json.tmp");
        for (String f : stale) Files.writeString(dir.resolve(f), "half");
        for (String f : kept) Files.writeString(dir.resolve(f), "theirs");
        Files.createDirectory(dir.resolve("components-0003.bin.tmp")); // not a file: left alone
        List<Path> deleted = s.deleteStaleTempFiles();
        assertEquals(Set.copyOf(stale), deleted.stream().map(p -> p.getFileName().toString()).collect(Collectors.toSet()));
        for (String f : kept) assertTrue(Files.exists(dir.resolve(f)), f + " is not this store's");
        assertTrue(Files.isDirectory(dir.resolve("components-0003.bin.tmp")));
        assertEquals("1:a", newest(s));
        assertEquals(List.of(), s.deleteStaleTempFiles(), "nothing left to delete");
    }

    @Test
    void aFullDiskFailsTheWriteByNameAndLeavesTheCheckpointsBeforeIt(@TempDir Path dir) throws Exception {
        CheckpointStore s = store(dir);
        write(s, 1, "a");
        write(s, 2, "b");
        String payload = "c".repeat(1000);
        try {
            for (long room : new long[] {10, payload.length() + 10}) { // full during the payload, then during the manifest
                AtomicFiles.hook(AtomicFiles.WriteHook.noSpaceAfter(dir, room));
                DiskFullException e = assertThrows(DiskFullException.class, () -> write(s, 3, payload));
                assertTrue(e.getMessage().contains("cannot write checkpoint state-0003 to " + dir), e.getMessage());
                assertTrue(e.getMessage().contains("no space left on device"), e.getMessage());
                assertTrue(e.getMessage().contains(dir.resolve(room < payload.length() ? "components-0003.bin" : "state-0003.json").toString()),
                        e.getMessage());
                assertTrue(e.getMessage().matches("(?s).*file system .*: \\d+ bytes free.*"), e.getMessage());
                assertEquals("2:b", newest(s), "the last good checkpoint is intact");
                assertTrue(Files.exists(s.payloadFile(1)), "nothing was deleted for a checkpoint not written");
                try (var files = Files.list(dir)) {
                    assertTrue(files.noneMatch(f -> f.toString().endsWith(".tmp")), "no temp file is left");
                }
            }
        } finally {
            AtomicFiles.hook(AtomicFiles.WriteHook.NONE);
        }
        write(s, 3, payload); // room again
        assertEquals("3:" + payload, newest(s));
    }

    @Test
    void atomicWritesReplaceWholeFilesAndCopy(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("f.json");
        AtomicFiles.writeString(f, "one");
        AtomicFiles.writeString(f, "two");
        assertEquals("two", Files.readString(f));
        AtomicFiles.copy(f, dir.resolve("g.json"));
        assertEquals("two", Files.readString(dir.resolve("g.json")));
        try {
            AtomicFiles.hook(AtomicFiles.WriteHook.noSpaceAfter(dir, 0));
            DiskFullException e = assertThrows(DiskFullException.class, () -> AtomicFiles.writeString(f, "three"));
            assertTrue(e.getMessage().startsWith(f.toAbsolutePath() + ": no space left on device"), e.getMessage());
            assertTrue(DiskFullException.isNoSpace(new IllegalStateException("wrapped", e)));
        } finally {
            AtomicFiles.hook(AtomicFiles.WriteHook.NONE);
        }
        assertEquals("two", Files.readString(f), "a failed write leaves the file as it was");
        try (var files = Files.list(dir)) {
            assertEquals(Set.of("f.json", "g.json"), files.map(p -> p.getFileName().toString()).collect(Collectors.toSet()));
        }
    }
}
