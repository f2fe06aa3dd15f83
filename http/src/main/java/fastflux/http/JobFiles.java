package fastflux.http;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What the API reads from a job's output directory, read-only: its report, its charts and images (the loss
 * history is the node's, {@link fastflux.actors.JobHistory}). A file is served only if its real path (symbolic links resolved)
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
}
