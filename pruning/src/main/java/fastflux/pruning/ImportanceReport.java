package fastflux.pruning;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import fastflux.model.BlockId;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import javax.imageio.ImageIO;

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

    /** Writes {@code importance.json} and {@code importance.png} into {@code dir} (each via a temp file). */
    public void write(Path dir) {
        try {
            Files.createDirectories(dir);
            Path tmp = dir.resolve("importance.json.tmp");
            Files.writeString(tmp, new GsonBuilder().serializeNulls().setPrettyPrinting().create().toJson(toJson()));
            Files.move(tmp, dir.resolve("importance.json"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            Path png = dir.resolve("importance.png.tmp");
            if (!ImageIO.write(chart(), "png", png.toFile())) throw new IOException("no PNG writer");
            Files.move(png, dir.resolve("importance.png"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write importance report to " + dir, e);
        }
    }

    static final Color DOUBLE_COLOUR = new Color(0xE0, 0xA0, 0x20);
    static final Color SINGLE_COLOUR = new Color(0x30, 0x70, 0xC0);

    /** Bar chart of the scores in ascending order (as the paper's Fig. 8); double and single in two colours. */
    public BufferedImage chart() {
        List<Entry> sorted = ranked();
        int n = sorted.size();
        int left = 80, right = 20, top = 40, bottom = 90;
        int barW = Math.max(6, Math.min(28, 900 / Math.max(1, n)));
        int w = left + right + n * barW;
        w = Math.max(w, 420);
        int h = 380;
        int plotH = h - top - bottom;
        double lo = 0, hi = 0;
        for (Entry e : sorted) {
            lo = Math.min(lo, e.score());
            hi = Math.max(hi, e.score());
        }
        if (hi == lo) hi = lo + 1;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            double range = hi - lo;
            int zeroY = top + (int) Math.round(plotH * (hi - 0) / range);
            for (int i = 0; i < n; i++) {
                Entry e = sorted.get(i);
                int x = left + i * barW;
                int y = top + (int) Math.round(plotH * (hi - e.score()) / range);
                g.setColor(e.block().kind() == BlockId.Kind.DOUBLE ? DOUBLE_COLOUR : SINGLE_COLOUR);
                g.fillRect(x + 1, Math.min(y, zeroY), Math.max(1, barW - 2), Math.max(1, Math.abs(zeroY - y)));
            }
            g.setColor(Color.BLACK);
            g.setStroke(new BasicStroke(1f));
            g.drawLine(left, top, left, top + plotH);
            g.drawLine(left, zeroY, left + n * barW, zeroY);
            g.drawString(String.format("%.3g", hi), 4, top + 4);
            g.drawString(String.format("%.3g", lo), 4, top + plotH);
            g.drawString("blocks, sorted by importance (ascending; leftmost replaced first)", left, h - 40);
            g.setColor(DOUBLE_COLOUR);
            g.fillRect(left, h - 25, 12, 12);
            g.setColor(Color.BLACK);
            g.drawString("double-stream", left + 16, h - 15);
            g.setColor(SINGLE_COLOUR);
            g.fillRect(left + 120, h - 25, 12, 12);
            g.setColor(Color.BLACK);
            g.drawString("single-stream", left + 136, h - 15);
            g.drawString("Block importance (" + metric + ")", left, 20);
            AffineTransform saved = g.getTransform();
            g.rotate(-Math.PI / 2);
            g.drawString(metric.equals(ImportanceScorer.OUTPUT_MSE) ? "output MSE" : "importance score s_i",
                    -(top + plotH / 2 + 50), 16);
            g.setTransform(saved);
        } finally {
            g.dispose();
        }
        return img;
    }
}
