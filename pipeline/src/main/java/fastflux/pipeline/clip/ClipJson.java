package fastflux.pipeline.clip;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Field readers for the CLIP configs: each problem is added to a list, so one error names all of them. */
final class ClipJson {
    private ClipJson() {}

    static JsonObject readObject(Path file) {
        JsonElement root;
        try {
            root = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e, e);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (!root.isJsonObject()) throw new IllegalArgumentException(file + ": not a JSON object");
        return root.getAsJsonObject();
    }

    /** An integer field; absent or null gives {@code fallback}, or a problem when there is none. */
    static int integer(JsonObject o, String field, Integer fallback, List<String> problems) {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) {
            if (fallback == null) problems.add("missing \"" + field + "\"");
            return fallback == null ? 0 : fallback;
        }
        if (!isNumber(e) || e.getAsDouble() != Math.rint(e.getAsDouble())
                || Math.abs(e.getAsDouble()) > Integer.MAX_VALUE) {
            problems.add("\"" + field + "\" must be an integer, got " + e);
            return fallback == null ? 0 : fallback;
        }
        return e.getAsInt();
    }

    static double number(JsonObject o, String field, double fallback, List<String> problems) {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) return fallback;
        if (!isNumber(e)) {
            problems.add("\"" + field + "\" must be a number, got " + e);
            return fallback;
        }
        return e.getAsDouble();
    }

    static boolean bool(JsonObject o, String field, boolean fallback, List<String> problems) {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) return fallback;
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            problems.add("\"" + field + "\" must be true or false, got " + e);
            return fallback;
        }
        return e.getAsBoolean();
    }

    static boolean isNumber(JsonElement e) {
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber();
    }
}
