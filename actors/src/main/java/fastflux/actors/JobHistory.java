package fastflux.actors;

import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * A job's loss history and output files as its node reads them from the job's output directory, read-only: the
 * blocks of report.json when the job has one, else of its newest checkpoint manifest, with the sandwich training
 * running now appended step by step ({@link Protocol.LiveLosses}). The node that runs a job answers for it, so a
 * fleet member's API can relay a job of another member ({@link NodeSupervisor.GetHistory}).
 */
public final class JobHistory {
    private JobHistory() {}

    private static final Pattern STATE = Pattern.compile("state-(\\d{4,})\\.json");

    /**
     * The job's loss history: per replaced block its residuals and its sandwich training (losses per step,
     * held-out losses), from report.json when the job has one, else from its newest checkpoint; plus the options
     * the method runs with and the block whose fit awaits its training.
     */
    public static JsonObject history(String id, Path out) {
        JsonObject h = new JsonObject();
        h.addProperty("job", id);
        JsonArray blocks = new JsonArray();
        JsonObject state = newestState(out);
        JsonObject report = readReport(out);
        String source = "none";
        if (report != null && report.has("blocks")) {
            blocks = report.getAsJsonArray("blocks");
            source = "report.json";
        } else if (state != null && state.has("completed")) {
            blocks = state.getAsJsonArray("completed");
            source = "state";
        }
        h.addProperty("source", source);
        if (state != null && state.has("order") && !state.get("order").isJsonNull()) h.add("order", state.get("order"));
        if (state != null && state.has("target")) h.add("target", state.get("target"));
        h.add("blocks", blocks);
        if (state != null && state.has("fitted") && !state.get("fitted").isJsonNull()) h.add("fitted", state.get("fitted"));
        return h;
    }

    /**
     * {@code history} with the sandwich training running now as one more block, {@code "live": true}, unless the
     * history holds that block already (its checkpoint was written): its step losses and held-out losses so far.
     */
    public static JsonObject withLive(JsonObject history, Protocol.LiveLosses live) {
        if (live == null || live.block() == null) return history;
        JsonArray blocks = history.getAsJsonArray("blocks");
        for (var e : blocks) {
            if (e.isJsonObject() && e.getAsJsonObject().has("block")
                    && e.getAsJsonObject().get("block").getAsString().equals(live.block())) {
                return history;
            }
        }
        JsonObject t = new JsonObject();
        t.addProperty("steps", live.steps());
        t.add("losses", numbers(live.losses()));
        JsonArray hs = new JsonArray();
        for (int s : live.heldOutSteps()) hs.add(s);
        t.add("held_out_steps", hs);
        t.add("held_out_losses", numbers(live.heldOutLosses()));
        JsonObject b = new JsonObject();
        b.addProperty("block", live.block());
        b.addProperty("live", true);
        b.add("training", t);
        JsonArray all = blocks.deepCopy();
        all.add(b);
        JsonObject h = history.deepCopy();
        h.add("blocks", all);
        return h;
    }

    private static JsonArray numbers(double[] values) {
        JsonArray a = new JsonArray();
        for (double v : values) {
            if (Double.isFinite(v)) a.add(v);
            else a.add(JsonNull.INSTANCE);
        }
        return a;
    }

    /** The report's files present in {@code out}, relative paths (report.json, importance.png, charts, grids). */
    public static JsonArray outputs(Path out) {
        JsonArray a = new JsonArray();
        if (!Files.isDirectory(out)) return a;
        try (Stream<Path> walk = Files.walk(out, 2)) {
            walk.filter(Files::isRegularFile)
                    .map(f -> out.relativize(f).toString())
                    .filter(f -> !f.startsWith("state/") && !f.startsWith(".") && (f.endsWith(".json") || f.endsWith(".md")
                            || f.endsWith(".png") || f.endsWith(".safetensors")))
                    .sorted()
                    .forEach(a::add);
        } catch (IOException | UncheckedIOException e) {
            // a directory being written: what was listed so far
        }
        return a;
    }

    /** The newest checkpoint manifest of the job's state ({@code out/state/state-NNNN.json}), or null. */
    public static JsonObject newestState(Path out) {
        Path dir = out.resolve("state");
        if (!Files.isDirectory(dir)) return null;
        List<Path> manifests = new ArrayList<>();
        try (Stream<Path> list = Files.list(dir)) {
            list.filter(f -> STATE.matcher(f.getFileName().toString()).matches()).forEach(manifests::add);
        } catch (IOException | UncheckedIOException e) {
            return null;
        }
        manifests.sort((a, b) -> Integer.compare(number(b), number(a)));
        for (Path m : manifests) {
            try {
                return JsonParser.parseString(Files.readString(m)).getAsJsonObject();
            } catch (IOException | RuntimeException e) {
                // deleted by the job's rotation while listed, or half-written: the next older one
            }
        }
        return null;
    }

    private static int number(Path p) {
        Matcher m = STATE.matcher(p.getFileName().toString());
        return m.matches() ? Integer.parseInt(m.group(1)) : -1;
    }

    public static JsonObject readReport(Path out) {
        Path f = out.resolve("report.json");
        if (!Files.isRegularFile(f)) return null;
        try {
            return JsonParser.parseString(Files.readString(f)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** JSON text gzipped for the wire (a long job's history is several times smaller so). */
    static byte[] gzip(String text) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(b)) {
            z.write(text.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return b.toByteArray();
    }

    public static String gunzip(byte[] bytes) {
        try (GZIPInputStream z = new GZIPInputStream(new ByteArrayInputStream(bytes))) {
            return new String(z.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
