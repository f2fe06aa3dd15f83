package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.checkpoints.AtomicFiles;
import fastflux.checkpoints.CheckpointStore;
import fastflux.checkpoints.DiskFullException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A job resumed over a damaged checkpoint, or stopped by a full disk, on the tiny model of {@link PruneJobTest}: it
 * falls back to the previous good checkpoint or fails naming the disk, and ends with the bytes of an uninterrupted run.
 */
class CheckpointRecoveryTest {
    @TempDir
    static Path shared;
    static Path base;
    static byte[] uninterrupted;

    @BeforeAll
    static void uninterruptedRun() throws Exception {
        base = PruneJobTest.baseModel(shared.resolve("base"));
        Path out = shared.resolve("uninterrupted");
        try (NDManager m = NDManager.newBaseManager()) {
            job(out, m).runAll(null, 1, null);
        }
        uninterrupted = Files.readAllBytes(out.resolve("model.safetensors"));
    }

    static PruneJob job(Path out, NDManager m) {
        return new PruneJob(base, out, PruneJobTest.options(0.34), PruneJob.Listener.NONE, m);
    }

    /**
     * A run stopped after its second block's fit: checkpoints 2 (first block fitted), 3 (first block done) and 4
     * (second block fitted) are kept.
     */
    static Path stoppedBeforeTheLastSandwich(Path out) {
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = job(out, m);
            job.begin();
            job.order();
            job.replaceOne();
            job.fitNext();
        }
        assertEquals(List.of(4, 3, 2), PruneState.store(out.resolve("state")).numbers());
        return out;
    }

    /** Resumes {@code out}, expecting checkpoint {@code number}, runs it to the end and compares with the uninterrupted run. */
    static void resumesFromAndEndsLikeTheUninterruptedRun(Path out, int number) throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = job(out, m);
            assertEquals(number, job.begin().number(), "the checkpoint the job resumes from");
            job.runAll(null, 1, null);
        }
        assertArrayEquals(uninterrupted, Files.readAllBytes(out.resolve("model.safetensors")),
                "resumed vs uninterrupted: max relative difference " + fastflux.model.io.SafetensorsCompare.maxRelativeDifference(
                        shared.resolve("uninterrupted/model.safetensors"), out.resolve("model.safetensors")));
    }

    @Test
    void aManifestAlteredIntoOtherValidJsonFallsBackToThePreviousCheckpoint(@TempDir Path tmp) throws Exception {
        Path out = stoppedBeforeTheLastSandwich(tmp.resolve("out"));
        Path manifest = PruneState.store(out.resolve("state")).manifestFile(4);
        String text = Files.readString(manifest);
        // one bit ('1' is 0x31, '0' is 0x30): still valid JSON, still a block of this model
        String altered = text.replaceFirst("\"double_blocks\\.1\"", "\"double_blocks.0\"");
        assertNotEquals(text, altered);
        JsonParser.parseString(altered);
        Files.writeString(manifest, altered);
        resumesFromAndEndsLikeTheUninterruptedRun(out, 3);
    }

    @Test
    void aCheckpointWhoseComponentsDoNotApplyFallsBackToThePreviousCheckpoint(@TempDir Path tmp) throws Exception {
        Path out = stoppedBeforeTheLastSandwich(tmp.resolve("out"));
        CheckpointStore store = PruneState.store(out.resolve("state"));
        // The last tensor of checkpoint 4 renamed (same length, so the file stays well formed), then the checkpoint
        // written again with checksums that match: only applying it to the model can tell.
        byte[] payload = Files.readAllBytes(store.payloadFile(4));
        int headerLength = (int) ByteBuffer.wrap(payload, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(payload, 8, headerLength, StandardCharsets.UTF_8);
        JsonObject tensors = JsonParser.parseString(header).getAsJsonObject();
        String last = tensors.keySet().stream().filter(k -> !k.equals("__metadata__")).reduce((a, b) -> b).orElseThrow();
        String renamed = last.substring(0, last.length() - 1) + (last.endsWith("X") ? "Y" : "X");
        byte[] newHeader = header.replace("\"" + last + "\"", "\"" + renamed + "\"").getBytes(StandardCharsets.UTF_8);
        assertEquals(headerLength, newHeader.length);
        System.arraycopy(newHeader, 0, payload, 8, headerLength);
        JsonObject fields = JsonParser.parseString(Files.readString(store.manifestFile(4))).getAsJsonObject();
        for (String k : List.of(CheckpointStore.MANIFEST_SHA256, "version", "payload", "payload_sha256")) fields.remove(k);
        store.write(4, fields, o -> AtomicFiles.writeFully(o, ByteBuffer.wrap(payload)));
        assertEquals(4, PruneState.read(out.resolve("state"), PruneJobTest.PARAMS).number(), "its checksums hold");

        resumesFromAndEndsLikeTheUninterruptedRun(out, 3);
    }

    @Test
    void aFullDiskAtACheckpointFailsNamingTheDiskAndTheJobResumesWhenThereIsRoom(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("out");
        Path state = out.resolve("state");
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = job(out, m);
            job.begin();
            job.order();
            job.replaceOne(); // checkpoints 1 to 3
            AtomicFiles.hook(AtomicFiles.WriteHook.noSpaceAfter(state, 1000));
            DiskFullException e = assertThrows(DiskFullException.class, job::fitNext);
            assertTrue(e.getMessage().contains("cannot write checkpoint state-0004 to " + state), e.getMessage());
            assertTrue(e.getMessage().contains(state.resolve("components-0004.safetensors") + ": no space left on device"), e.getMessage());
            assertTrue(e.getMessage().matches("(?s).*\\(file system .+: \\d+ bytes free\\).*"), e.getMessage());
        } finally {
            AtomicFiles.hook(AtomicFiles.WriteHook.NONE);
        }
        PruneState last = PruneState.read(state, PruneJobTest.PARAMS);
        assertEquals(3, last.number(), "the last good checkpoint loads");
        assertEquals(1, last.completed().size());
        try (var files = Files.list(state)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".tmp")), "the failed write left no temp file");
        }
        resumesFromAndEndsLikeTheUninterruptedRun(out, 3);
    }

    @Test
    void aFullDiskDuringTheExportFailsNamingTheDiskAndTheJobResumesWhenThereIsRoom(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("out");
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = job(out, m);
            job.begin();
            job.order();
            job.replaceBlocks();
            AtomicFiles.hook((file, bytes) -> {
                if (file.getParent().equals(out.toAbsolutePath())) throw new java.io.IOException("No space left on device");
            });
            DiskFullException e = assertThrows(DiskFullException.class, job::export);
            assertTrue(e.getMessage().contains("cannot export the pruned model to " + out), e.getMessage());
            assertTrue(e.getMessage().contains(out.resolve("model.safetensors") + ": no space left on device"), e.getMessage());
        } finally {
            AtomicFiles.hook(AtomicFiles.WriteHook.NONE);
        }
        assertFalse(Files.exists(out.resolve("model.safetensors")));
        try (var files = Files.list(out)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".tmp")), "the failed export left no temp file");
        }
        PruneState last = PruneState.read(out.resolve("state"), PruneJobTest.PARAMS);
        assertEquals(2, last.completed().size(), "the last checkpoint, every block done, loads");
        resumesFromAndEndsLikeTheUninterruptedRun(out, last.number());
    }

    @Test
    void staleTempFilesInTheStateDirectoryAreCleanedWhenTheJobOpensIt(@TempDir Path tmp) throws Exception {
        Path out = stoppedBeforeTheLastSandwich(tmp.resolve("out"));
        Path state = out.resolve("state");
        // what a kill in the middle of writing checkpoint 5 and stage 2 leaves, and a file that is not the job's
        Files.writeString(state.resolve(".components-0005.safetensors.3fa2b1c0d9e8f7a6.tmp"), "half");
        Files.writeString(state.resolve(".state-0005.json.0123abcd.tmp"), "{\"ver");
        Files.writeString(state.resolve(".stage-components-0002.safetensors.77aa.tmp"), "half");
        Files.writeString(state.resolve("notes.tmp"), "someone else's");
        resumesFromAndEndsLikeTheUninterruptedRun(out, 4);
        try (var files = Files.list(state)) {
            assertEquals(List.of("notes.tmp"), files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".tmp")).toList());
        }
    }
}
