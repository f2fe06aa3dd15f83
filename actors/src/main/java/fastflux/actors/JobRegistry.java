package fastflux.actors;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The daemon's jobs on disk: {@code jobs.json} in the state dir, a versioned JSON list written to a temp file,
 * forced and renamed into place, so a kill at any moment leaves either the old or the new registry.
 */
final class JobRegistry {
    static final int VERSION = 1;
    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().serializeNulls().create();

    /** One job; its state changes only by {@link #apply}, along {@link JobState}'s moves. */
    static final class Job {
        final String id;
        final JobSpec spec;
        private JobState state;
        String error;

        Job(String id, JobSpec spec, JobState state, String error) {
            this.id = id;
            this.spec = spec;
            this.state = state;
            this.error = error;
        }

        JobState state() {
            return state;
        }

        /**
         * Moves the job on by {@code e} and sets its error (null: none).
         *
         * @throws IllegalStateException naming the job when {@code e} does not apply to its state; nothing changes
         */
        void apply(JobState.Event e, String error) {
            try {
                state = state.next(e);
            } catch (IllegalStateException refused) {
                throw new IllegalStateException(id + ": " + refused.getMessage(), refused);
            }
            this.error = error;
        }

        boolean active() {
            return state.isActive();
        }
    }

    private final Path file;

    /** {@code stateDir} null: the jobs live in memory only (the in-process node of {@code prune}). */
    JobRegistry(Path stateDir) {
        this.file = stateDir == null ? null : stateDir.resolve("jobs.json");
    }

    /** The registry file, or null in memory. */
    Path file() {
        return file;
    }

    /**
     * The jobs on disk (none when there is no file yet).
     *
     * @throws IllegalArgumentException naming the file when it is not a registry this daemon reads (damaged by
     *     something other than the daemon, which only ever renames a complete file into place); the file is left
     *     as it is, for its owner to repair or move aside
     */
    List<Job> load() {
        List<Job> jobs = new ArrayList<>();
        if (file == null || !Files.isRegularFile(file)) return jobs;
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read job registry " + file, e);
        }
        try {
            JsonObject root = JsonParser.parseString(text).getAsJsonObject();
            int v = root.get("version").getAsInt();
            if (v != VERSION) throw new IllegalArgumentException("registry version " + v + ", this daemon reads " + VERSION);
            for (JsonElement e : root.getAsJsonArray("jobs")) {
                JsonObject o = e.getAsJsonObject();
                JsonObject spec = o.getAsJsonObject("spec");
                Job j = new Job(o.get("id").getAsString(), spec == null ? null : JobSpec.fromJson(spec),
                        state(o), o.get("error").isJsonNull() ? null : o.get("error").getAsString());
                if (j.spec == null || !j.id.matches("job-\\d{4,}")) throw new IllegalArgumentException("job entry " + o + " is incomplete");
                jobs.add(j);
            }
        } catch (RuntimeException e) { // malformed JSON, a missing or mistyped field
            String why = String.valueOf(e.getMessage()).lines().findFirst().orElse(e.getClass().getSimpleName());
            throw new IllegalArgumentException("job registry " + file + " is damaged (" + why + "); it is left as"
                    + " it is: repair it, or move it aside to start with no jobs (each job's checkpoints stay in its out/state)", e);
        }
        return jobs;
    }

    /** A job entry's state, stored as its word ({@link JobState#word}). */
    private static JobState state(JsonObject o) {
        String word = o.get("state").getAsString();
        try {
            return JobState.parse(word);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(o.get("id") + ": " + e.getMessage(), e);
        }
    }

    void save(List<Job> jobs) {
        if (file == null) return;
        JsonObject root = new JsonObject();
        root.addProperty("version", VERSION);
        JsonArray arr = new JsonArray();
        for (Job j : jobs) {
            JsonObject o = new JsonObject();
            o.addProperty("id", j.id);
            o.addProperty("state", j.state.word());
            o.addProperty("error", j.error);
            o.add("spec", j.spec.toJson());
            arr.add(o);
        }
        root.add("jobs", arr);
        try {
            Files.createDirectories(file.getParent());
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.writeString(tmp, GSON.toJson(root));
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write job registry " + file, e);
        }
    }
}
