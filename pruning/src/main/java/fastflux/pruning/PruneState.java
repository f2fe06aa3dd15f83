package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.model.BlockId;
import fastflux.model.FluxParams;
import fastflux.model.Replacement;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A pruning job's progress: the options, the replacement order, and the blocks done so far with their
 * residuals and training losses. Written after every block as a numbered pair, a versioned JSON manifest
 * and a safetensors file of the trained components whose SHA-256 the manifest records; each file goes to a
 * temp name first and is renamed into place, the manifest last. Reading takes the newest pair that verifies,
 * so a corrupted or half-written checkpoint falls back to the previous good one.
 */
public record PruneState(JsonObject options, int target, List<BlockId> order, List<BlockResult> completed, int number) {
    public static final int VERSION = 1;
    private static final Pattern MANIFEST = Pattern.compile("state-(\\d{4})\\.json");
    private static final int KEEP = 3;

    /** One replaced block: its least-squares residuals per stream and its sandwich-training summary. */
    public record BlockResult(BlockId block, Replacement.Mode mode, Map<String, Double> residuals, SandwichTrainer.Result training) {}

    public static PruneState fresh(JsonObject options, int target) {
        return new PruneState(options, target, null, List.of(), 0);
    }

    public PruneState withOrder(List<BlockId> o) {
        return new PruneState(options, target, List.copyOf(o), completed, number);
    }

    public PruneState withCompleted(BlockResult r) {
        List<BlockResult> c = new ArrayList<>(completed);
        c.add(r);
        return new PruneState(options, target, order, List.copyOf(c), number);
    }

    public boolean done() {
        return order != null && completed.size() >= target;
    }

    Path componentsFile(Path dir) {
        return dir.resolve(String.format("components-%04d.safetensors", number));
    }

    /** Writes the next numbered checkpoint and drops all but the last few. Returns the state with its number. */
    public PruneState write(Path dir, Map<String, NDArray> components) {
        PruneState next = new PruneState(options, target, order, completed, number + 1);
        try {
            Files.createDirectories(dir);
            SafetensorsWriter w = new SafetensorsWriter().metadata("state", Integer.toString(next.number));
            components.forEach((k, v) -> w.add(k, v, DType.F32));
            Path comp = next.componentsFile(dir);
            w.write(comp);
            JsonObject json = next.toJson();
            json.addProperty("components", comp.getFileName().toString());
            json.addProperty("components_sha256", sha256(comp));
            Path manifest = dir.resolve(String.format("state-%04d.json", next.number));
            Path tmp = dir.resolve(manifest.getFileName() + ".tmp");
            Files.writeString(tmp, new GsonBuilder().setPrettyPrinting().serializeNulls().serializeSpecialFloatingPointValues().create().toJson(json));
            Files.move(tmp, manifest, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            prune(dir, next.number);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write pruning state to " + dir, e);
        }
        return next;
    }

    private static void prune(Path dir, int newest) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Matcher m = Pattern.compile("(?:state|components)-(\\d{4})\\.(?:json|safetensors)").matcher(f.getFileName().toString());
                if (m.matches() && Integer.parseInt(m.group(1)) <= newest - KEEP) Files.deleteIfExists(f);
            }
        }
    }

    /** The newest checkpoint in {@code dir} whose manifest parses and whose components match their checksum; null if none. */
    public static PruneState read(Path dir, FluxParams p) {
        if (!Files.isDirectory(dir)) return null;
        List<Integer> numbers = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Matcher m = MANIFEST.matcher(f.getFileName().toString());
                if (m.matches()) numbers.add(Integer.parseInt(m.group(1)));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        numbers.sort(java.util.Comparator.reverseOrder());
        for (int n : numbers) {
            Path manifest = dir.resolve(String.format("state-%04d.json", n));
            try {
                JsonObject json = JsonParser.parseString(Files.readString(manifest)).getAsJsonObject();
                if (json.get("version").getAsInt() != VERSION) continue;
                Path comp = dir.resolve(json.get("components").getAsString());
                if (!Files.isRegularFile(comp) || !sha256(comp).equals(json.get("components_sha256").getAsString())) {
                    org.slf4j.LoggerFactory.getLogger(PruneState.class).warn("checkpoint {} is corrupt (checksum mismatch); falling back", manifest);
                    continue;
                }
                return fromJson(json, n, p);
            } catch (IOException | RuntimeException e) {
                org.slf4j.LoggerFactory.getLogger(PruneState.class).warn("checkpoint {} is unreadable ({}); falling back", manifest, e.toString());
            }
        }
        return null;
    }

    static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int r; (r = in.read(buf)) > 0; ) md.update(buf, 0, r);
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("version", VERSION);
        o.add("options", options);
        o.addProperty("target", target);
        if (order != null) {
            JsonArray a = new JsonArray();
            order.forEach(b -> a.add(b.name()));
            o.add("order", a);
        }
        JsonArray c = new JsonArray();
        for (BlockResult r : completed) c.add(resultJson(r));
        o.add("completed", c);
        return o;
    }

    static JsonObject resultJson(BlockResult r) {
        JsonObject e = new JsonObject();
        e.addProperty("block", r.block().name());
        e.addProperty("mode", r.mode().jsonName());
        JsonObject res = new JsonObject();
        r.residuals().forEach(res::addProperty);
        e.add("residuals", res);
        if (r.training() != null) {
            SandwichTrainer.Result t = r.training();
            JsonObject tj = new JsonObject();
            tj.addProperty("up", t.up() == null ? null : t.up().name());
            tj.addProperty("down", t.down() == null ? null : t.down().name());
            JsonArray params = new JsonArray();
            t.trainedParams().forEach(params::add);
            tj.add("trained_params", params);
            tj.addProperty("initial_loss", t.initialLoss());
            tj.addProperty("final_loss", t.finalLoss());
            tj.addProperty("pairs", t.pairs());
            JsonArray losses = new JsonArray();
            for (double l : t.losses()) losses.add(l);
            tj.add("losses", losses);
            e.add("training", tj);
        }
        return e;
    }

    private static PruneState fromJson(JsonObject json, int number, FluxParams p) {
        List<BlockId> order = null;
        if (json.has("order")) {
            order = new ArrayList<>();
            for (JsonElement e : json.getAsJsonArray("order")) order.add(BlockId.parse(e.getAsString(), p));
        }
        List<BlockResult> done = new ArrayList<>();
        for (JsonElement e : json.getAsJsonArray("completed")) {
            JsonObject o = e.getAsJsonObject();
            BlockId b = BlockId.parse(o.get("block").getAsString(), p);
            Replacement.Mode mode = o.get("mode").getAsString().equals("delete") ? Replacement.Mode.DELETE : Replacement.Mode.LINEAR;
            Map<String, Double> res = new java.util.LinkedHashMap<>();
            o.getAsJsonObject("residuals").entrySet().forEach(x -> res.put(x.getKey(), x.getValue().getAsDouble()));
            SandwichTrainer.Result t = null;
            if (o.has("training")) {
                JsonObject tj = o.getAsJsonObject("training");
                List<String> params = new ArrayList<>();
                tj.getAsJsonArray("trained_params").forEach(x -> params.add(x.getAsString()));
                JsonArray la = tj.getAsJsonArray("losses");
                double[] losses = new double[la.size()];
                for (int i = 0; i < losses.length; i++) losses[i] = la.get(i).getAsDouble();
                t = new SandwichTrainer.Result(b, tj.get("up").isJsonNull() ? null : BlockId.parse(tj.get("up").getAsString(), p),
                        tj.get("down").isJsonNull() ? null : BlockId.parse(tj.get("down").getAsString(), p), params,
                        tj.get("initial_loss").getAsDouble(), tj.get("final_loss").getAsDouble(), losses,
                        tj.get("pairs").getAsLong(), 0);
            }
            done.add(new BlockResult(b, mode, res, t));
        }
        return new PruneState(json.getAsJsonObject("options"), json.get("target").getAsInt(), order, done, number);
    }
}
