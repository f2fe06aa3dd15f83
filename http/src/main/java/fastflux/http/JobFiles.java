package fastflux.http;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What the API reads from a job's output directory, read-only: its report, its charts and images, and its loss
 * history from the newest checkpoint manifest. A file is served only if its real path (symbolic links resolved)
 * lies inside the real output directory; a path with {@code ..}, an absolute one or one that leads out is refused.
 */
final class JobFiles {
    private JobFiles() {}

    /** Why a path is not served: {@code status} 403 (leads outside) or 404 (no such file). */
    static final class Refused extends RuntimeException {
        final int status;

        Refused(int status, String message) {
            super(message, null, false, false);
            this.status = status;
        }
    }

    private static final Pattern STATE = Pattern.compile("state-(\\d{4,})\\.json");

    /**
     * The file {@code rawPath} (the URI's remaining path, percent-encoded) names under {@code out}.
     *
     * @throws Refused 403 for a path that leads outside {@code out}, 404 for one that does not exist
     */
    static Path resolve(Path out, String rawPath) {
        List<String> segments = new ArrayList<>();
        for (String s : rawPath.split("/", -1)) {
            String d;
            try {
                d = URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                throw new Refused(404, "malformed path " + rawPath);
            }
            if (d.isEmpty() || d.equals(".") || d.equals("..") || d.contains("/") || d.contains("\\") || d.indexOf(0) >= 0) {
                throw new Refused(403, "path " + rawPath + " is refused: only plain relative paths inside the job's output directory");
            }
            segments.add(d);
        }
        Path realOut;
        try {
            realOut = out.toRealPath();
        } catch (IOException e) {
            throw new Refused(404, "the job's output directory " + out + " does not exist yet");
        }
        Path p = realOut;
        for (String s : segments) p = p.resolve(s);
        Path real;
        try {
            real = p.toRealPath();
        } catch (IOException e) {
            throw new Refused(404, "no file " + String.join("/", segments) + " in the job's output directory");
        }
        if (!real.startsWith(realOut)) throw new Refused(403, "path " + rawPath + " leads outside the job's output directory");
        if (!Files.isRegularFile(real)) throw new Refused(404, String.join("/", segments) + " is not a file");
        return real;
    }

    /** The report's files present in {@code out}, relative paths (report.json, importance.png, charts, grids). */
    static JsonArray outputs(Path out) {
        JsonArray a = new JsonArray();
        if (!Files.isDirectory(out)) return a;
        try (Stream<Path> walk = Files.walk(out, 2)) {
            walk.filter(Files::isRegularFile)
                    .map(f -> out.relativize(f).toString())
                    .filter(f -> !f.startsWith("state/") && !f.startsWith(".") && (f.endsWith(".json") || f.endsWith(".md")
                            || f.endsWith(".png") || f.endsWith(".safetensors")))
                    .sorted()
                    .forEach(a::add);
        } catch (IOException e) {
            // a directory being written: what was listed so far
        }
        return a;
    }

    /** The newest checkpoint manifest of the job's state ({@code out/state/state-NNNN.json}), or null. */
    static JsonObject newestState(Path out) {
        Path dir = out.resolve("state");
        if (!Files.isDirectory(dir)) return null;
        List<Path> manifests = new ArrayList<>();
        try (Stream<Path> list = Files.list(dir)) {
            list.filter(f -> STATE.matcher(f.getFileName().toString()).matches()).forEach(manifests::add);
        } catch (IOException e) {
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

    /**
     * The job's loss history: per replaced block its residuals and its sandwich training (losses per step,
     * held-out losses), from report.json when the job has one, else from its newest checkpoint; plus the options
     * the method runs with and the block whose fit awaits its training.
     */
    static JsonObject history(String id, Path out) {
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

    /** Per replaced block its training's first and last loss (and held-out ones): a job's losses at a glance. */
    static JsonArray losses(JsonObject history) {
        JsonArray out = new JsonArray();
        for (JsonElement e : history.getAsJsonArray("blocks")) {
            JsonObject b = e.getAsJsonObject();
            JsonObject l = new JsonObject();
            l.add("block", b.get("block"));
            if (b.has("training") && b.get("training").isJsonObject()) {
                JsonObject t = b.getAsJsonObject("training");
                for (String k : new String[] {"initial_loss", "final_loss", "held_out_initial_loss", "held_out_final_loss"}) {
                    if (t.has(k)) l.add(k, t.get(k));
                }
            }
            out.add(l);
        }
        return out;
    }

    static JsonObject readReport(Path out) {
        Path f = out.resolve("report.json");
        if (!Files.isRegularFile(f)) return null;
        try {
            return JsonParser.parseString(Files.readString(f)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
