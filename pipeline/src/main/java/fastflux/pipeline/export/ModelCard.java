package fastflux.pipeline.export;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import fastflux.checkpoints.AtomicFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The export's model card, {@code README.md} in Hugging Face's form (YAML front matter, then markdown): the base
 * model, the method, the ratio, the replaced blocks, how to load the export, the licence, and the quality and
 * latency figures of the pruning report. {@link FluxExport#write} writes it without figures, and records its facts
 * in {@code fastflux-export.json}; the job calls {@link #update} once its report exists, which rewrites the card
 * with the report's figures.
 */
public final class ModelCard {
    private ModelCard() {}

    public static final String FILE = "README.md";
    /** The export's facts as JSON, beside the card: what {@link #update} rewrites it from. */
    public static final String FACTS_FILE = "fastflux-export.json";

    /** One figure of base and pruned model (either may be empty, e.g. a fidelity measured on the pruned one alone). */
    public record Figure(String name, String base, String pruned) {}

    /**
     * What the card says.
     *
     * @param baseModel the base model's name
     * @param layout the export's layout ({@code diffusers}, {@code bfl}, {@code fastflux})
     * @param dtype the transformer's stored dtype(s), e.g. {@code BF16}
     * @param mode {@code linear}, {@code delete}, or {@code none}
     * @param baseBlocks the base transformer's block count
     * @param replaced the replaced blocks under the base's numbering, e.g. {@code double_blocks.3 (linear)}
     * @param depths the export's depths, e.g. {@code 18 double + 37 single blocks}
     * @param licences the base's licence files copied into the export (empty: none found)
     * @param licenseFields {@code license}, {@code license_name}, {@code license_link} of the base's own card
     * @param figures the report's figures, by section ({@code quality}, {@code speed}, ...); empty before the report
     * @param notes lines the report adds (e.g. why quality was not measured)
     */
    public record Facts(String baseModel, String layout, String dtype, String mode, int baseBlocks, List<String> replaced,
                        String depths, List<String> licences, Map<String, String> licenseFields,
                        Map<String, List<Figure>> figures, List<String> notes) {
        public Facts {
            replaced = List.copyOf(replaced);
            licences = List.copyOf(licences);
            licenseFields = Map.copyOf(licenseFields);
            figures = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(figures));
            notes = List.copyOf(notes);
        }

        /** The fraction of blocks replaced. */
        public double ratio() {
            return baseBlocks == 0 ? 0 : (double) replaced.size() / baseBlocks;
        }

        public Facts withFigures(Map<String, List<Figure>> f, List<String> n) {
            return new Facts(baseModel, layout, dtype, mode, baseBlocks, replaced, depths, licences, licenseFields, f, n);
        }

        JsonObject toJson() {
            JsonObject o = new JsonObject();
            o.addProperty("base_model", baseModel);
            o.addProperty("layout", layout);
            o.addProperty("dtype", dtype);
            o.addProperty("mode", mode);
            o.addProperty("base_blocks", baseBlocks);
            o.add("replaced", strings(replaced));
            o.addProperty("depths", depths);
            o.add("licences", strings(licences));
            JsonObject lf = new JsonObject();
            new java.util.TreeMap<>(licenseFields).forEach(lf::addProperty);
            o.add("license_fields", lf);
            return o;
        }

        static Facts fromJson(JsonObject o, Path where) {
            try {
                Map<String, String> lf = new LinkedHashMap<>();
                o.getAsJsonObject("license_fields").entrySet().forEach(e -> lf.put(e.getKey(), e.getValue().getAsString()));
                return new Facts(o.get("base_model").getAsString(), o.get("layout").getAsString(),
                        o.get("dtype").getAsString(), o.get("mode").getAsString(), o.get("base_blocks").getAsInt(),
                        list(o.getAsJsonArray("replaced")), o.get("depths").getAsString(),
                        list(o.getAsJsonArray("licences")), lf, Map.of(), List.of());
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(where + ": not an export's facts (" + e + ")", e);
            }
        }
    }

    /** Writes {@code README.md} of {@code outDir} from {@code facts}, replacing the one there. */
    public static void write(Path outDir, Facts facts) {
        try {
            AtomicFiles.writeString(outDir.resolve(FILE), markdown(facts));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the model card " + outDir.resolve(FILE), e);
        }
    }

    /** Records the facts in {@code fastflux-export.json} (read back by {@link #update}). */
    static void writeFacts(Path outDir, Facts facts) {
        try {
            AtomicFiles.writeString(outDir.resolve(FACTS_FILE),
                    new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(facts.toJson()) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + outDir.resolve(FACTS_FILE), e);
        }
    }

    /** The facts {@link FluxExport#write} recorded in {@code outDir}. */
    public static Facts read(Path outDir) {
        Path f = outDir.resolve(FACTS_FILE);
        if (!Files.isRegularFile(f)) throw new IllegalArgumentException(outDir + " has no " + FACTS_FILE + ": not an export");
        try {
            return Facts.fromJson(JsonParser.parseString(Files.readString(f)).getAsJsonObject(), f);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + f, e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(f + ": " + e.getMessage(), e);
        }
    }

    /**
     * Rewrites the card of the export in {@code outDir} with the figures of the pruning job's report
     * ({@code report.json}'s object): quality of base and pruned model, output fidelity, FLOPs and latency.
     */
    public static void update(Path outDir, JsonObject report) {
        write(outDir, withReport(read(outDir), report));
    }

    /** The facts with the report's figures. */
    public static Facts withReport(Facts facts, JsonObject report) {
        Map<String, List<Figure>> figures = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        JsonObject q = object(report, "quality");
        if (q != null) {
            List<Figure> rows = new ArrayList<>();
            JsonObject base = object(q, "base"), pruned = object(q, "pruned");
            if (base != null && pruned != null) {
                for (var e : base.entrySet()) {
                    if (number(e.getValue()) && number(pruned.get(e.getKey()))) {
                        rows.add(new Figure(e.getKey(), format(e.getValue()), format(pruned.get(e.getKey()))));
                    }
                }
            }
            JsonObject fid = object(q, "fidelity");
            if (fid != null) {
                for (var e : fid.entrySet()) if (number(e.getValue())) rows.add(new Figure(e.getKey(), "", format(e.getValue())));
            }
            if (q.has("prompts") && q.get("prompts").isJsonPrimitive()) notes.add("Quality prompts: " + q.get("prompts").getAsString() + ".");
            figures.put("quality", rows);
        }
        if (report.has("quality_not_measured")) notes.add("Quality: " + report.get("quality_not_measured").getAsString() + ".");
        JsonObject fo = object(report, "output_fidelity");
        if (fo != null) {
            List<Figure> rows = new ArrayList<>();
            for (var e : fo.entrySet()) if (number(e.getValue())) rows.add(new Figure(e.getKey(), "", format(e.getValue())));
            figures.put("output fidelity (pruned against base)", rows);
        }
        JsonObject s = object(report, "speed");
        if (s != null) {
            List<Figure> rows = new ArrayList<>();
            if (number(s.get("base_ms")) && number(s.get("pruned_ms"))) rows.add(new Figure("latency per forward (ms, median)", format(s.get("base_ms")), format(s.get("pruned_ms"))));
            if (number(s.get("base_flops")) && number(s.get("pruned_flops"))) rows.add(new Figure("FLOPs per forward", format(s.get("base_flops")), format(s.get("pruned_flops"))));
            if (number(s.get("latency_ratio"))) rows.add(new Figure("latency ratio (pruned / base)", "", format(s.get("latency_ratio"))));
            if (number(s.get("flop_ratio"))) rows.add(new Figure("FLOP ratio (pruned / base)", "", format(s.get("flop_ratio"))));
            if (s.has("work") && s.get("work").isJsonPrimitive()) notes.add("Latency measured on: " + s.get("work").getAsString() + ".");
            figures.put("speed", rows);
        }
        return facts.withFigures(figures, notes);
    }

    /** The card's text. */
    public static String markdown(Facts f) {
        StringBuilder sb = new StringBuilder("---\n");
        sb.append("base_model: ").append(yaml(f.baseModel())).append('\n');
        for (String k : List.of("license", "license_name", "license_link")) {
            if (f.licenseFields().containsKey(k)) sb.append(k).append(": ").append(yaml(f.licenseFields().get(k))).append('\n');
        }
        if (f.layout().equals("diffusers")) sb.append("library_name: diffusers\n");
        sb.append("pipeline_tag: text-to-image\ntags:\n- fastflux\n- pruned\n- flux\n---\n\n");
        sb.append("# ").append(f.baseModel()).append(", pruned with FastFLUX\n\n");
        String ratio = String.format(Locale.ROOT, "%.2f", f.ratio());
        boolean delete = f.mode().equals("delete");
        sb.append("The FLUX.1 transformer of **").append(f.baseModel()).append("** with ").append(f.replaced().size())
                .append(" of its ").append(f.baseBlocks()).append(" blocks ")
                .append(delete ? "removed" : "replaced by linear layers").append(" (ratio ").append(ratio).append(") by ")
                .append("FastFLUX: each replaced block's residual branch became a least-squares linear fitted on the model's "
                        + "own denoising trajectories (BRLL), or was dropped in delete mode, and the blocks around it were "
                        + "fine-tuned with LoRA adapters (sandwich training), merged into the weights here.\n\n");
        sb.append("| | |\n|---|---|\n");
        sb.append("| base model | ").append(f.baseModel()).append(" |\n");
        sb.append("| method | FastFLUX, ").append(delete ? "delete mode (shortcut only)" : "linear mode (BRLL)")
                .append(", sandwich training, LoRA merged |\n");
        sb.append("| ratio | ").append(ratio).append(" (").append(f.replaced().size()).append(" of ").append(f.baseBlocks()).append(" blocks) |\n");
        sb.append("| replaced blocks (base numbering) | ").append(f.replaced().isEmpty() ? "none" : String.join(", ", f.replaced())).append(" |\n");
        sb.append("| transformer | ").append(f.depths()).append(", ").append(f.layout()).append(" layout, ").append(f.dtype()).append(" |\n\n");

        sb.append("## Quality and latency\n\n");
        if (f.figures().isEmpty()) {
            sb.append("Not measured yet: the pruning job rewrites this card with its report's figures (report.md).\n\n");
        }
        for (var e : f.figures().entrySet()) {
            if (e.getValue().isEmpty()) continue;
            sb.append("| ").append(e.getKey()).append(" | base | pruned |\n|---|---:|---:|\n");
            for (Figure fig : e.getValue()) {
                sb.append("| ").append(fig.name()).append(" | ").append(fig.base()).append(" | ").append(fig.pruned()).append(" |\n");
            }
            sb.append('\n');
        }
        for (String n : f.notes()) sb.append(n).append("\n\n");

        sb.append("## Loading\n\n");
        if (delete || f.replaced().isEmpty()) {
            sb.append("A stock FLUX.1 transformer of ").append(f.depths()).append(": the deleted blocks are gone, the kept "
                    + "ones renumbered, the depths in its config lowered. Any FLUX.1 runtime loads it");
            sb.append(f.layout().equals("diffusers") ? " (diffusers: `FluxPipeline.from_pretrained(DIR)`)" : "");
            sb.append(", and so does `fastflux generate --model DIR`.\n\n");
        } else {
            sb.append("The replaced blocks are linear layers, `Y = X + W X + b` per token, which stock FLUX.1 runtimes do "
                    + "not have: `fastflux generate --model DIR` loads this export; docs/export-format.md of fastflux "
                    + "gives the key names, shapes and forward for another runtime.\n\n");
        }
        if (f.layout().equals("diffusers")) {
            sb.append("The components the pruning did not change (text encoders, tokenizers, autoencoder, scheduler, "
                    + "model_index.json) are links to the base model's, or copies when exported with `--copy`.\n\n");
        }
        sb.append("## Licence\n\n");
        if (f.licences().isEmpty()) {
            sb.append("The base model's licence applies to this derivative; no licence file was found beside the base "
                    + "model, so none is copied here.\n");
        } else {
            sb.append("The base model's licence applies to this derivative: ").append(String.join(", ", f.licences()))
                    .append(", copied from the base model.\n");
        }
        return sb.toString();
    }

    /** {@code license}, {@code license_name} and {@code license_link} of a model card's YAML front matter. */
    static Map<String, String> licenseFields(Path readme) {
        Map<String, String> out = new LinkedHashMap<>();
        if (!Files.isRegularFile(readme)) return out;
        try {
            List<String> lines = Files.readAllLines(readme);
            if (lines.isEmpty() || !lines.get(0).strip().equals("---")) return out;
            for (int i = 1; i < lines.size() && !lines.get(i).strip().equals("---"); i++) {
                String line = lines.get(i);
                int colon = line.indexOf(':');
                if (colon < 0 || line.startsWith(" ")) continue;
                String key = line.substring(0, colon).strip();
                String value = line.substring(colon + 1).strip();
                if (value.length() >= 2 && (value.startsWith("\"") && value.endsWith("\"") || value.startsWith("'") && value.endsWith("'"))) {
                    value = value.substring(1, value.length() - 1);
                }
                if (List.of("license", "license_name", "license_link").contains(key) && !value.isEmpty()) out.put(key, value);
            }
        } catch (IOException | RuntimeException e) {
            return out; // a card we cannot read contributes nothing; the licence file itself is copied regardless
        }
        return out;
    }

    private static String yaml(String s) {
        return s.matches("[A-Za-z0-9._/-]+") ? s : "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    private static JsonArray strings(List<String> l) {
        JsonArray a = new JsonArray();
        l.forEach(a::add);
        return a;
    }

    private static List<String> list(JsonArray a) {
        List<String> out = new ArrayList<>();
        a.forEach(e -> out.add(e.getAsString()));
        return out;
    }

    private static JsonObject object(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e != null && e.isJsonObject() ? e.getAsJsonObject() : null;
    }

    private static boolean number(JsonElement e) {
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber();
    }

    private static String format(JsonElement e) {
        JsonPrimitive p = e.getAsJsonPrimitive();
        double d = p.getAsDouble();
        if (d == Math.rint(d) && Math.abs(d) < 1e15) return Long.toString((long) d);
        return String.format(Locale.ROOT, "%.4g", d);
    }
}
