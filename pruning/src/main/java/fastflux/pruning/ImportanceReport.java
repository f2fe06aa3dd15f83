package fastflux.pruning;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import fastflux.model.BlockId;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Block importances and their ranking. {@code score} is the sort key: lower = less important = replaced
 * earlier; {@code rank} 1 is the first block to replace (paper §3.2: ascending order of s_i).
 *
 * @param metric {@link ImportanceScorer#FD_ALIGN} or {@link ImportanceScorer#OUTPUT_MSE}
 * @param alpha FD weight (NaN for output-mse)
 * @param beta alignment weight (NaN for output-mse)
 * @param prompts description of the prompt set
 * @param promptCount prompts used
 * @param seeds noise seeds
 * @param baselineFd FD of the unpruned model (null for output-mse)
 * @param baselineAlign judge overall of the unpruned model (null for output-mse)
 * @param entries one per block, forward order
 */
public record ImportanceReport(String metric, double alpha, double beta, String prompts, int promptCount,
                               long[] seeds, Double baselineFd, Double baselineAlign, List<Entry> entries) {
    /**
     * @param fd Fréchet distance with the block switched off (null for output-mse)
     * @param align judge overall with the block switched off (null for output-mse)
     * @param mse mean squared velocity change with the block switched off (null for fd-align)
     * @param score the sort key: s_i for fd-align, the mse for output-mse
     * @param rank 1 = least important
     */
    public record Entry(BlockId block, Double fd, Double align, Double mse, double score, int rank) {}

    public ImportanceReport {
        seeds = seeds.clone();
        entries = List.copyOf(entries);
    }

    /** Entries sorted by rank: least important first. */
    public List<Entry> ranked() {
        List<Entry> out = new ArrayList<>(entries);
        out.sort(Comparator.comparingInt(Entry::rank));
        return out;
    }

    /** The first {@code n} blocks to replace. */
    public List<BlockId> leastImportant(int n) {
        return ranked().stream().limit(n).map(Entry::block).toList();
    }

    public JsonObject toJson() {
        JsonObject root = new JsonObject();
        root.addProperty("metric", metric);
        root.add("alpha", num(Double.isNaN(alpha) ? null : alpha));
        root.add("beta", num(Double.isNaN(beta) ? null : beta));
        root.addProperty("order", "ascending score: rank 1 is the least important block, replaced first");
        JsonObject p = new JsonObject();
        p.addProperty("source", prompts);
        p.addProperty("count", promptCount);
        root.add("prompts", p);
        JsonArray s = new JsonArray();
        for (long v : seeds) s.add(v);
        root.add("seeds", s);
        JsonObject base = new JsonObject();
        base.add("fd", num(baselineFd));
        base.add("align", num(baselineAlign));
        root.add("baseline", base);
        JsonArray blocks = new JsonArray();
        for (Entry e : entries) {
            JsonObject b = new JsonObject();
            b.addProperty("name", e.block().name());
            b.addProperty("kind", e.block().kind() == BlockId.Kind.DOUBLE ? "double" : "single");
            b.add("fd", num(e.fd()));
            b.add("align", num(e.align()));
            b.add("mse", num(e.mse()));
            b.add("score", num(e.score()));
            b.addProperty("rank", e.rank());
            blocks.add(b);
        }
        root.add("blocks", blocks);
        return root;
    }

    /** Reads an {@code importance.json} (for {@code --importance-from}); every block of the model must be ranked. */
    public static ImportanceReport read(Path file, fastflux.model.FluxParams p) {
        try {
            JsonObject root = com.google.gson.JsonParser.parseString(Files.readString(file)).getAsJsonObject();
            List<Entry> entries = new ArrayList<>();
            java.util.Set<BlockId> seen = new java.util.HashSet<>();
            for (var e : root.getAsJsonArray("blocks")) {
                JsonObject b = e.getAsJsonObject();
                BlockId id = BlockId.parse(b.get("name").getAsString(), p);
                if (!seen.add(id)) throw new IllegalArgumentException(file + ": block " + id + " is listed twice");
                entries.add(new Entry(id, opt(b, "fd"), opt(b, "align"), opt(b, "mse"), b.get("score").getAsDouble(), b.get("rank").getAsInt()));
            }
            if (seen.size() != p.blockCount()) {
                throw new IllegalArgumentException(file + ": ranks " + seen.size() + " blocks but the model has " + p.blockCount());
            }
            JsonArray sa = root.getAsJsonArray("seeds");
            long[] seeds = new long[sa == null ? 0 : sa.size()];
            for (int i = 0; i < seeds.length; i++) seeds[i] = sa.get(i).getAsLong();
            JsonObject prompts = root.getAsJsonObject("prompts");
            JsonObject base = root.getAsJsonObject("baseline");
            return new ImportanceReport(root.get("metric").getAsString(), optOr(root, "alpha"), optOr(root, "beta"),
                    prompts.get("source").getAsString(), prompts.get("count").getAsInt(), seeds, opt(base, "fd"), opt(base, "align"), entries);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        } catch (com.google.gson.JsonParseException e) {
            java.util.regex.Matcher at = java.util.regex.Pattern.compile("at line \\d+ column \\d+").matcher(String.valueOf(e.getMessage()));
            throw new IllegalArgumentException(file + ": not an importance.json (not valid JSON" + (at.find() ? " " + at.group() : "") + ")", e);
        } catch (RuntimeException e) {
            if (e instanceof IllegalArgumentException) throw e;
            throw new IllegalArgumentException(file + ": not an importance.json: " + e.getMessage(), e);
        }
    }

    private static Double opt(JsonObject o, String k) {
        return o == null || !o.has(k) || o.get(k).isJsonNull() ? null : o.get(k).getAsDouble();
    }

    private static double optOr(JsonObject o, String k) {
        Double d = opt(o, k);
        return d == null ? Double.NaN : d;
    }

    private static com.google.gson.JsonElement num(Double d) {
        return d == null || d.isNaN() || d.isInfinite() ? JsonNull.INSTANCE : new JsonPrimitive(d);
    }

    /** Writes {@code importance.json} and {@code importance.png} into {@code dir}, no block marked replaced. */
    public void write(Path dir) {
        write(dir, java.util.Set.of());
    }

    /**
     * Writes {@code importance.json} and {@code importance.png} (each via a temp file) into {@code dir}; the chart
     * marks the {@code replaced} blocks.
     */
    public void write(Path dir, java.util.Set<BlockId> replaced) {
        try {
            Files.createDirectories(dir);
            Path tmp = dir.resolve("importance.json.tmp");
            Files.writeString(tmp, new GsonBuilder().serializeNulls().setPrettyPrinting().create().toJson(toJson()));
            Files.move(tmp, dir.resolve("importance.json"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write importance report to " + dir, e);
        }
        Charts.writePng(chart(replaced), Charts.WIDTH, Charts.importanceHeight(entries.size()), dir.resolve("importance.png"));
    }

    /** Bar chart of the scores in rank order (as the paper's Fig. 8), every block named; the {@code replaced} ones marked. */
    public org.jfree.chart.JFreeChart chart(java.util.Set<BlockId> replaced) {
        return Charts.importance(this, replaced);
    }
}
