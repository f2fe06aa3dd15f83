package fastflux.experiments;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.checkpoints.AtomicFiles;
import fastflux.model.FluxModel;
import fastflux.model.ModelDir;
import fastflux.model.Replacement;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import fastflux.pruning.Calibration;
import fastflux.pruning.OutputFidelity;
import fastflux.pruning.PruneJob;
import fastflux.pruning.Option;
import fastflux.pruning.PromptCalibrationSource;
import fastflux.pruning.PruneOptions;
import fastflux.shapes.Category;
import fastflux.shapes.Evaluation;
import fastflux.shapes.Fidelity;
import fastflux.shapes.Image;
import fastflux.shapes.Png;
import fastflux.shapes.Prompt;
import fastflux.shapes.PromptFile;
import fastflux.shapes.ShapesModel;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The paper's ablations at Shapes scale (Tables 4–6, Figures 6–7): every variant is one pruning run into
 * {@code DIR/variants/NAME}, evaluated over several evaluation seed bases, and {@code DIR/report.md} sets our
 * numbers beside the paper's.
 *
 * <p>It takes hours, so everything is resumable at the finest grain that is cheap to check: a variant whose
 * {@code report.json} is complete is not pruned again (an unfinished one resumes through its {@code state/}), each
 * evaluation is cached as {@code eval-base{S}.json} in the variant's directory, each grid as {@code grid.png}.
 * The block ranking is computed once ({@code DIR/importance}) and every importance-ordered variant reads it, so
 * variants differ only in what the ablation changes. Table 6 is one run to 30% whose components build the lower
 * ratios ({@link PruneJob#reuseFrom}), as the paper's progressive procedure allows.
 */
public final class PaperTables {
    /** The parts that {@code --only} selects. */
    public enum Part {
        TABLE4, TABLE5, TABLE6, FIG6, FIG7;

        public String key() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** {@code table4,fig6} → the parts; names every unknown one. */
        public static Set<Part> parse(String list) {
            Set<Part> parts = EnumSet.noneOf(Part.class);
            List<String> unknown = new ArrayList<>();
            for (String s : list.split(",")) {
                String k = s.trim().toLowerCase(Locale.ROOT);
                if (k.isEmpty()) continue;
                Part found = null;
                for (Part p : values()) if (p.key().equals(k)) found = p;
                if (found == null) unknown.add(k); else parts.add(found);
            }
            if (!unknown.isEmpty() || parts.isEmpty()) {
                throw new IllegalArgumentException("unknown part(s) " + unknown + " (table4, table5, table6, fig6, fig7)");
            }
            return parts;
        }
    }

    /**
     * @param model the full model every variant is pruned from
     * @param parts what to run
     * @param method the full method's pruning options (its ratio is the ablations' ratio); variants change one thing
     * @param evalPrompts the evaluation prompts (the dev set), never used for calibration
     * @param evalLabel how the report names them
     * @param seeds images per prompt and seed base
     * @param seedBases evaluation seed bases: base i is {@code firstSeedBase + i·1000} ({@link Evaluation#imageSeed})
     * @param evalSteps sampler steps of evaluation and grids
     * @param gridSeeds images per grid row (one row per category's first prompt)
     * @param draws training draws of the ordering variants (Tables 4–5, Figure 6): draw d is pruned with seed
     *              {@code method.seed() + d} (calibration prompts, adapter initialisation, minibatch order), so the
     *              orderings are judged over the training's spread as well as the evaluation's
     * @param firstSeedBase the first evaluation seed base
     * @param table4Ratio Table 4's ratio: the ablations' own ({@code method.ratio()}) shares their full method;
     *                    another one prunes Table 4's pair apart, as {@code t4-full} and {@code t4-no-st}
     */
    public record Options(Path model, Set<Part> parts, PruneOptions method, List<Prompt> evalPrompts, String evalLabel,
                          int seeds, int seedBases, int evalSteps, int gridSeeds, int draws, long firstSeedBase,
                          double table4Ratio) {
        public Options {
            if (seeds < 1 || seedBases < 1 || evalSteps < 1 || gridSeeds < 1 || draws < 1) {
                throw new IllegalArgumentException("seeds, seed bases, evaluation steps, grid seeds and draws must be >= 1");
            }
            if (firstSeedBase < 0) throw new IllegalArgumentException("the first seed base must be >= 0, got " + firstSeedBase);
            if (!(table4Ratio > 0 && table4Ratio < 1)) {
                throw new IllegalArgumentException("Table 4's ratio must be a fraction between 0 and 1, got " + table4Ratio);
            }
            if (evalPrompts == null || evalPrompts.isEmpty()) throw new IllegalArgumentException("no evaluation prompts");
            parts = EnumSet.copyOf(parts);
            evalPrompts = List.copyOf(evalPrompts);
        }

        /**
         * What {@code experiment paper-tables} runs without flags but {@code --model} and the method: all five parts on
         * the dev prompts, 4 images per prompt, 3 seed bases from 0, the default sampler steps, 4 images a grid row,
         * one draw, Table 4 at the ablations' ratio.
         */
        public static Options defaults(Path model, PruneOptions method) {
            return new Builder(model, EnumSet.allOf(Part.class), method, PromptFile.dev(), PromptFile.DEV_NAME, 4, 3,
                    ShapesModel.DEFAULT_STEPS, 4, 1, 0, null).build();
        }

        /** A builder starting from these options. */
        public Builder toBuilder() {
            return new Builder(model, parts, method, evalPrompts, evalLabel, seeds, seedBases, evalSteps, gridSeeds, draws,
                    firstSeedBase, table4Ratio);
        }

        /** Sets fields one by one; {@link #build} checks them together. */
        public static final class Builder {
            private Path model;
            private Set<Part> parts;
            private PruneOptions method;
            private List<Prompt> evalPrompts;
            private String evalLabel;
            private int seeds;
            private int seedBases;
            private int evalSteps;
            private int gridSeeds;
            private int draws;
            private long firstSeedBase;
            private Double table4Ratio;

            private Builder(Path model, Set<Part> parts, PruneOptions method, List<Prompt> evalPrompts, String evalLabel, int seeds, int seedBases, int evalSteps, int gridSeeds, int draws, long firstSeedBase, Double table4Ratio) {
                this.model = model;
                this.parts = parts;
                this.method = method;
                this.evalPrompts = evalPrompts;
                this.evalLabel = evalLabel;
                this.seeds = seeds;
                this.seedBases = seedBases;
                this.evalSteps = evalSteps;
                this.gridSeeds = gridSeeds;
                this.draws = draws;
                this.firstSeedBase = firstSeedBase;
                this.table4Ratio = table4Ratio;
            }

            /** The full model's directory. */
            public Builder model(Path v) {
                model = v;
                return this;
            }

            /** What to run. */
            public Builder parts(Set<Part> v) {
                parts = v;
                return this;
            }

            /** The full method's pruning options. */
            public Builder method(PruneOptions v) {
                method = v;
                return this;
            }

            /** The evaluation prompts and how the report names them. */
            public Builder evalPrompts(List<Prompt> prompts, String label) {
                evalPrompts = prompts;
                evalLabel = label;
                return this;
            }

            /** Images per prompt and seed base. */
            public Builder seeds(int v) {
                seeds = v;
                return this;
            }

            /** How many evaluation seed bases. */
            public Builder seedBases(int v) {
                seedBases = v;
                return this;
            }

            /** Sampler steps of evaluation and grids. */
            public Builder evalSteps(int v) {
                evalSteps = v;
                return this;
            }

            /** Images per grid row. */
            public Builder gridSeeds(int v) {
                gridSeeds = v;
                return this;
            }

            /** Training draws of the ordering variants. */
            public Builder draws(int v) {
                draws = v;
                return this;
            }

            /** The first evaluation seed base. */
            public Builder firstSeedBase(long v) {
                firstSeedBase = v;
                return this;
            }

            /** Table 4's ratio; unset, it is the method's. */
            public Builder table4Ratio(double r) {
                table4Ratio = r;
                return this;
            }

            public Options build() {
                return new Options(model, parts, method, evalPrompts, evalLabel, seeds, seedBases, evalSteps, gridSeeds,
                        draws, firstSeedBase, table4Ratio != null ? table4Ratio : method.ratio());
            }
        }

        /** Whether Table 4 runs at a ratio of its own, with its own full method. */
        public boolean table4Apart() {
            return table4Ratio != method.ratio();
        }

        /** Table 4's full method: the ablations' {@code full}, or {@code t4-full} at a ratio of its own. */
        public String table4Full() {
            return table4Apart() ? "t4-full" : "full";
        }

        /** Table 4's untrained linears: {@code no-st}, or {@code t4-no-st} at a ratio of its own. */
        public String table4NoSt() {
            return table4Apart() ? "t4-no-st" : "no-st";
        }
    }

    /** What one invocation did: variants pruned (or resumed) and evaluations run, by name; cached ones are absent. */
    public record Result(Path report, List<String> pruned, List<String> evaluated) {}

    /** Table 6's ratios; the largest is trained, the others are built from it. */
    static final double[] RATIOS = {0.05, 0.10, 0.15, 0.20, 0.25, 0.30};
    static final String UNPRUNED = "unpruned";

    /**
     * One pruning run of the tables; {@code reuseFrom} names the variant whose run it is built from (no training),
     * {@code atStage} whether from that run's stage at this ratio rather than its final components.
     */
    record Variant(String name, String label, PruneOptions options, String reuseFrom, boolean atStage) {
        Variant(String name, String label, PruneOptions options, String reuseFrom) {
            this(name, label, options, reuseFrom, false);
        }
    }

    private final Path dir;
    private final Options o;
    private final PrintStream log;
    private final List<String> pruned = new ArrayList<>();
    private final List<String> evaluated = new ArrayList<>();
    private final Map<Long, List<Image>> unprunedImages = new HashMap<>();
    /**
     * SHA-256 of a variant's model file → the first variant of this invocation with that model. Table 6's ratios
     * that round to the same block count, and its stages that equal an ablation's model, are the same bytes:
     * they share one evaluation and grid instead of computing them again.
     */
    private final Map<String, String> firstWithModel = new HashMap<>();
    /** SHA-256 of each variant's model file, hashed once per invocation (twins and the output fidelity's cache key). */
    private final Map<String, String> modelSha = new HashMap<>();

    public PaperTables(Path dir, Options options, PrintStream log) {
        this.dir = dir;
        this.o = options;
        this.log = log;
    }

    /** Runs (or resumes) the selected parts and writes {@code DIR/report.md}; returns what this invocation did. */
    public Result run() {
        Map<String, Variant> variants = variants();
        log.printf("paper-tables: %s, %d variants + unpruned, %d seed base(s) x %d seeds x %d prompts%n", o.parts(),
                variants.size(), o.seedBases(), o.seeds(), o.evalPrompts().size());
        Map<String, List<JsonObject>> evals = new LinkedHashMap<>();
        evals.put(UNPRUNED, evaluate(UNPRUNED, o.model(), null));
        grid(UNPRUNED, o.model(), null);
        Map<String, JsonObject> reports = new LinkedHashMap<>();
        for (Variant v : variants.values()) {
            reports.put(v.name(), prune(v));
            String twin = sameModelAs(v.name());
            evals.put(v.name(), evaluate(v.name(), variantDir(v.name()), twin));
            grid(v.name(), variantDir(v.name()), twin);
        }
        Set<Part> reported = addFinishedParts(variants, reports, evals);
        Map<String, JsonObject> outputs = new LinkedHashMap<>();
        for (String name : reports.keySet()) if (isOrderingVariant(name)) outputs.put(name, outputFidelity(name));
        Options shown = o.toBuilder().parts(reported).build();
        Path report = dir.resolve("report.md");
        PaperTablesReport.writeCharts(dir, shown, reports, evals);
        write(report, PaperTablesReport.markdown(shown, variants, reports, evals, outputs));
        log.println("paper-tables: report written to " + report);
        return new Result(report, List.copyOf(pruned), List.copyOf(evaluated));
    }

    /**
     * Parts left out of this invocation ({@code --only}) whose every variant an earlier one finished and evaluated
     * as now: their variants, reports and evaluations are added from the caches, so the report keeps them.
     * Returns the parts to report.
     */
    private Set<Part> addFinishedParts(Map<String, Variant> variants, Map<String, JsonObject> reports,
                                       Map<String, List<JsonObject>> evals) {
        Set<Part> reported = EnumSet.copyOf(o.parts());
        for (Part p : Part.values()) {
            if (reported.contains(p)) continue;
            Map<String, Variant> pv = variants(EnumSet.of(p));
            Map<String, JsonObject> pr = new LinkedHashMap<>();
            Map<String, List<JsonObject>> pe = new LinkedHashMap<>();
            for (Variant v : pv.values()) {
                JsonObject r = reports.containsKey(v.name()) ? reports.get(v.name()) : finished(variantDir(v.name()));
                List<JsonObject> e = evals.containsKey(v.name()) ? evals.get(v.name()) : cachedEvaluations(v.name());
                if (r == null || e == null) break;
                pr.put(v.name(), r);
                pe.put(v.name(), e);
            }
            if (pr.size() < pv.size()) continue;
            reported.add(p);
            pv.forEach(variants::putIfAbsent);
            pr.forEach(reports::putIfAbsent);
            pe.forEach(evals::putIfAbsent);
        }
        Set<Part> earlier = EnumSet.copyOf(reported);
        earlier.removeAll(o.parts());
        if (!earlier.isEmpty()) log.println("paper-tables: the report also holds " + earlier + ", finished earlier (cached)");
        return reported;
    }

    /** The variants the selected parts need, in the order they must run (Table 6's source before its reuses). */
    Map<String, Variant> variants() {
        return variants(o.parts());
    }

    private Map<String, Variant> variants(Set<Part> p) {
        Map<String, Variant> v = firstDraw(p);
        List<Variant> drawn = new ArrayList<>();
        boolean orderings = p.contains(Part.TABLE4) || p.contains(Part.TABLE5) || p.contains(Part.FIG6);
        for (String name : DRAWN) {
            if (orderings && v.containsKey(name)) drawn.add(v.get(name));
        }
        for (int d = 1; d < o.draws(); d++) {
            for (Variant x : drawn) {
                PruneOptions seeded = x.options().with(PruneOptions.SEED, x.options().seed() + d);
                String n = drawName(x.name(), d);
                v.put(n, new Variant(n, x.label() + ", draw " + d + " (seed " + seeded.seed() + ")", seeded, null));
            }
        }
        return v;
    }

    /** The variants whose orderings the targets test; with {@code --draws N} each is pruned N times. */
    static final List<String> DRAWN = List.of("full", "no-st", "t4-full", "t4-no-st", "delete", "start2end", "end2start");

    /** Draw d of a variant: its own name for draw 0, else {@code NAME-drawD}. */
    static String drawName(String name, int draw) {
        return draw == 0 ? name : name + "-draw" + draw;
    }

    private Map<String, Variant> firstDraw(Set<Part> p) {
        PruneOptions m = o.method();
        Path importance = m.order() == PruneOptions.Order.IMPORTANCE && m.importanceFrom() == null
                ? dir.resolve("importance").resolve("importance.json") : m.importanceFrom();
        PruneOptions full = m.with(PruneOptions.IMPORTANCE_FROM, importance);
        Map<String, Variant> v = new LinkedHashMap<>();
        String fullLabel = "FastFLUX (importance, linear, ST width " + m.sandwichWidth() + ")";
        boolean t4 = p.contains(Part.TABLE4);
        if ((t4 && !o.table4Apart()) || p.contains(Part.TABLE5) || p.contains(Part.FIG6) || p.contains(Part.FIG7)) {
            v.put("full", new Variant("full", fullLabel, full, null));
        }
        if (t4) {
            PruneOptions atT4 = full.with(PruneOptions.RATIO, o.table4Ratio());
            String ratio = o.table4Apart() ? ", Table 4's ratio " + PruneOptions.plain(o.table4Ratio()) : "";
            if (o.table4Apart()) v.put(o.table4Full(), new Variant(o.table4Full(), fullLabel + ratio, atT4, null));
            v.put(o.table4NoSt(), new Variant(o.table4NoSt(), "w/o ST (least-squares linears)" + ratio,
                    atT4.with(PruneOptions.MODE, Replacement.Mode.LINEAR).with(PruneOptions.SANDWICH_TRAINING, false), null));
        }
        if (p.contains(Part.FIG6)) {
            v.put("delete", new Variant("delete", "delete (shortcut), same ST", full.with(PruneOptions.MODE, Replacement.Mode.DELETE),
                    null));
        }
        if (p.contains(Part.TABLE5)) {
            v.put("start2end", new Variant("start2end", "Start2End order", full.with(PruneOptions.IMPORTANCE_FROM, null)
                    .with(PruneOptions.ORDER, PruneOptions.Order.START2END), null));
            v.put("end2start", new Variant("end2start", "End2Start order", full.with(PruneOptions.IMPORTANCE_FROM, null)
                    .with(PruneOptions.ORDER, PruneOptions.Order.END2START), null));
        }
        if (p.contains(Part.FIG7)) {
            for (int w : new int[] {1, 5}) {
                if (w == full.sandwichWidth()) continue;
                v.put("width" + w, new Variant("width" + w, "sandwich width " + w, full.with(PruneOptions.SANDWICH, w), null));
            }
        }
        if (p.contains(Part.TABLE6)) {
            String top = ratioName(RATIOS[RATIOS.length - 1]);
            v.put(top, new Variant(top, "30% (trained)", full.with(PruneOptions.RATIO, RATIOS[RATIOS.length - 1]), null));
            for (int i = 0; i < RATIOS.length - 1; i++) {
                String n = ratioName(RATIOS[i]);
                v.put(n, new Variant(n, Math.round(RATIOS[i] * 100) + "% (from the 30% run)", full.with(PruneOptions.RATIO, RATIOS[i]),
                        top));
            }
            for (int i = 0; i < RATIOS.length - 1; i++) {
                String n = ratioName(RATIOS[i]) + STAGE;
                v.put(n, new Variant(n, Math.round(RATIOS[i] * 100) + "% (the 30% run at its stage)", full.with(PruneOptions.RATIO, RATIOS[i]), top,
                        true));
            }
        }
        return v;
    }

    /** Suffix of Table 6's variants built from the 30 % run's stage at their ratio ({@code --reuse-at-ratio}). */
    static final String STAGE = "-stage";

    static String ratioName(double r) {
        return String.format(Locale.ROOT, "ratio-%02d", Math.round(r * 100));
    }

    /** Seed base {@code base}'s evaluation: the tables' seeds and steps, the default guidance and batch. */
    private Evaluation.Options evaluationOptions(long base) {
        return Evaluation.Options.defaults().toBuilder().seeds(o.seeds()).seedBase(base).steps(o.evalSteps()).build();
    }

    Path variantDir(String name) {
        return dir.resolve("variants").resolve(name);
    }

    /** A finished variant: its report.json (written last, atomically) parses and holds the speed section. */
    static JsonObject finished(Path variant) {
        Path f = variant.resolve("report.json");
        if (!Files.isRegularFile(f) || !Files.isRegularFile(variant.resolve("model.safetensors"))) return null;
        try {
            JsonObject r = JsonParser.parseString(Files.readString(f)).getAsJsonObject();
            return r.has("speed") && r.has("replaced_count") ? r : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private JsonObject prune(Variant v) {
        Path out = variantDir(v.name());
        JsonObject done = finished(out);
        if (done != null) {
            requireSameOptions(v, done);
            log.println("[skip] " + v.name() + ": finished (" + out.resolve("report.json") + ")");
            return done;
        }
        if (v.options().importanceFrom() != null && v.options().importanceFrom().startsWith(dir)) importance();
        log.println("[prune] " + v.name() + ": " + v.label() + (Files.isDirectory(out.resolve("state")) ? " (resuming)" : ""));
        try (NDManager m = NDManager.newBaseManager()) {
            PruneJob job = new PruneJob(o.model(), out, v.options(), progress(v.name()), m);
            if (v.reuseFrom() != null) job.reuseFrom(variantDir(v.reuseFrom()), v.atStage());
            JsonObject r = job.runAll(null, 1, null);
            pruned.add(v.name());
            return r;
        }
    }

    /**
     * A finished variant counts only when it was pruned with this invocation's options: one run with, say, other
     * sandwich-training steps into the same directory is a clear error instead of a report mixing two settings. The
     * ranking's path is left out (the directory may have moved; the ranking is the one in it), and so are the
     * training's own settings for a variant that does not train ({@code --no-sandwich-training}): its model is the same bytes
     * whatever they are, so one run of it serves every trainer setting.
     */
    static void requireSameOptions(Variant v, JsonObject finishedReport) {
        JsonObject want = v.options().toJson();
        JsonObject had = finishedReport.getAsJsonObject("options");
        had = had == null ? new JsonObject() : PruneOptions.canonical(had); // a report may use an older spelling
        List<String> differ = new ArrayList<>();
        for (Option<?> o : PruneOptions.ALL) {
            if (o == PruneOptions.IMPORTANCE_FROM || !o.affectsResult()) continue;
            if (!v.options().sandwichTraining() && PruneOptions.TRAINING.contains(o)) continue;
            var a = want.get(o.name());
            var b = had.get(o.name());
            if (b == null || !a.equals(b)) differ.add(o.name() + " " + (b == null ? "(absent)" : b) + ", here " + a);
        }
        if (!differ.isEmpty()) {
            throw new IllegalArgumentException("variant " + v.name() + " was finished with other options (" + String.join("; ", differ)
                    + "): use another --out, or the options it was run with");
        }
    }

    /** The shared block ranking: computed once into {@code DIR/importance} (a resumable run of its own). */
    private void importance() {
        Path file = dir.resolve("importance").resolve("importance.json");
        if (Files.isRegularFile(file)) return;
        log.println("[importance] " + o.method().importance() + " ranking, shared by every importance-ordered variant");
        PruneOptions m = o.method();
        try (NDManager nd = NDManager.newBaseManager()) {
            PruneJob job = new PruneJob(o.model(), dir.resolve("importance"), m.with(PruneOptions.IMPORTANCE_FROM, null)
                    .with(PruneOptions.ORDER, PruneOptions.Order.IMPORTANCE), progress("importance"), nd);
            job.begin();
            job.order();
        }
    }

    private PruneJob.Listener progress(String name) {
        String[] last = {""};
        return (phase, block, done, total, detail) -> {
            String key = phase + " " + block;
            if (!key.equals(last[0])) {
                log.println("  " + name + " [" + phase + "] " + block + " " + detail);
                last[0] = key;
            }
        };
    }

    /** The variant of this invocation whose model file has the same bytes as {@code name}'s, or null (then it is the first). */
    private String sameModelAs(String name) {
        String twin = firstWithModel.putIfAbsent(modelSha256(name), name);
        return twin == null || twin.equals(name) ? null : twin;
    }

    /** The SHA-256 of a variant's model file. */
    private String modelSha256(String name) {
        return modelSha.computeIfAbsent(name, n -> {
            Path f = ModelDir.weightsFile(variantDir(n));
            try {
                return AtomicFiles.sha256(f);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + f, e);
            }
        });
    }

    /**
     * The evaluations of one model over the seed bases, each cached with what it was computed from; a pruned
     * variant's also holds its fidelity to the unpruned model's images of the same prompts and seeds. With a
     * {@code twin} (a variant evaluated before, same model bytes) its cached evaluation is copied instead.
     */
    private List<JsonObject> evaluate(String name, Path model, String twin) {
        List<JsonObject> out = new ArrayList<>();
        Path vd = variantDir(name);
        for (long base : seedBases()) {
            Path f = vd.resolve("eval-base" + base + ".json");
            JsonObject key = evalKey(name, base);
            boolean pruned = !name.equals(UNPRUNED);
            JsonObject cached = cachedEvaluation(f, key);
            if (cached == null && twin != null) {
                Path tf = variantDir(twin).resolve(f.getFileName());
                cached = cachedEvaluation(tf, key);
                if (cached != null) {
                    copy(tf, f);
                    log.printf("[eval] %s: seed base %d: the same model as %s, its evaluation%n", name, base, twin);
                }
            }
            if (cached != null) {
                out.add(cached);
                continue;
            }
            log.printf("[eval] %s: seed base %d (%d images)%n", name, base, o.evalPrompts().size() * o.seeds());
            try (NDManager m = NDManager.newBaseManager()) {
                ShapesModel sm = ShapesModel.load(model, m);
                Evaluation.Result r = Evaluation.run(sm, o.evalPrompts(), evaluationOptions(base), null);
                JsonObject report = r.report().toJsonObject();
                if (pruned) {
                    report.add("fidelity", Fidelity.of(o.evalPrompts(), o.seeds(), unprunedImages(base), r.images()).toJson(UNPRUNED));
                } else {
                    unprunedImages.put(base, r.images());
                    saveUnprunedImages(base, r.images());
                }
                JsonObject c = new JsonObject();
                c.add("key", key);
                c.add("report", report);
                write(f, new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(c));
                out.add(report);
            }
            evaluated.add(name + "@" + base);
        }
        return out;
    }

    /** The evaluation seed bases, in order: the first, then every 1000. */
    long[] seedBases() {
        long[] b = new long[o.seedBases()];
        for (int i = 0; i < b.length; i++) b[i] = o.firstSeedBase() + i * 1000L;
        return b;
    }

    /** What one evaluation was computed from: a cached one counts only when its key equals this. */
    private JsonObject evalKey(String name, long base) {
        JsonObject key = new JsonObject();
        key.addProperty("prompts", o.evalLabel() + " (" + o.evalPrompts().size() + " prompts)");
        key.addProperty("seeds", o.seeds());
        key.addProperty("seed_base", base);
        key.addProperty("steps", o.evalSteps());
        key.addProperty("noise", "per image"); // Evaluation.imageSeed; caches of the shared-noise scheme are not reused
        if (!name.equals(UNPRUNED)) key.addProperty("fidelity_to", UNPRUNED);
        return key;
    }

    /** Grammar prompts of the ordering variants' output fidelity (seed {@link OutputFidelity#DEFAULT_PROMPT_SEED}). */
    static final int FIDELITY_PROMPTS = 32;

    /** Whether {@code name} is one of the ordering targets' variants ({@link #DRAWN}) in one of this run's draws. */
    private boolean isOrderingVariant(String name) {
        for (String n : DRAWN) {
            for (int d = 0; d < o.draws(); d++) if (drawName(n, d).equals(name)) return true;
        }
        return false;
    }

    /**
     * A variant's {@link OutputFidelity} against the unpruned model, cached as {@code output-fidelity.json} in its
     * directory (keyed by prompts, noise, steps and the model file's SHA-256): every variant on the same
     * {@value #FIDELITY_PROMPTS} grammar prompts × the held-out noise seeds and the evaluation's sampler steps, so the
     * variants pair item by item.
     */
    private JsonObject outputFidelity(String name) {
        Path cache = variantDir(name).resolve("output-fidelity.json");
        JsonObject key = new JsonObject();
        key.addProperty("prompts", FIDELITY_PROMPTS);
        key.addProperty("prompt_seed", OutputFidelity.DEFAULT_PROMPT_SEED);
        key.addProperty("noise_seeds", Arrays.toString(PruneJob.heldOutNoiseSeeds()));
        key.addProperty("steps", o.evalSteps());
        key.addProperty("against", UNPRUNED);
        key.addProperty("model_sha256", modelSha256(name)); // a variant pruned again is measured again
        JsonObject cached = readJson(cache);
        if (cached != null && key.equals(cached.get("key")) && cached.get("result") instanceof JsonObject r) return r;
        log.printf("[fidelity] %s: the transformer's outputs against the unpruned model's%n", name);
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel base = ShapesModel.load(o.model(), m);
            FluxModel model = ModelDir.load(variantDir(name), m, DataType.FLOAT32, Set.of());
            Calibration items = new Calibration(base.flux(), PromptCalibrationSource.sample(base, FIDELITY_PROMPTS,
                    OutputFidelity.DEFAULT_PROMPT_SEED), Calibration.Options.defaults().withSteps(o.evalSteps())
                    .withSeeds(PruneJob.heldOutNoiseSeeds()));
            JsonObject result = OutputFidelity.measure(model, items).toJson();
            JsonObject file = new JsonObject();
            file.add("key", key);
            file.add("result", result);
            write(cache, new GsonBuilder().setPrettyPrinting().create().toJson(file));
            return result;
        }
    }

    private static JsonObject cachedEvaluation(Path f, JsonObject key) {
        JsonObject cached = readJson(f);
        return cached != null && key.equals(cached.get("key")) && cached.get("report") instanceof JsonObject r ? r : null;
    }

    /** Every seed base's evaluation of a variant from the cache, or null when one is missing or was made otherwise. */
    private List<JsonObject> cachedEvaluations(String name) {
        List<JsonObject> out = new ArrayList<>();
        for (long base : seedBases()) {
            JsonObject r = cachedEvaluation(variantDir(name).resolve("eval-base" + base + ".json"), evalKey(name, base));
            if (r == null) return null;
            out.add(r);
        }
        return out;
    }

    /**
     * The unpruned model's evaluation images of one seed base, which every pruned variant's fidelity compares
     * against: kept from its evaluation in this invocation, else read from {@code variants/unpruned/images-baseS
     * .safetensors} (written with that evaluation, keyed as it is), else, when that file is missing, made for other
     * prompts or seeds or unreadable, made again (and saved).
     */
    private List<Image> unprunedImages(long base) {
        return unprunedImages.computeIfAbsent(base, b -> {
            List<Image> saved = readUnprunedImages(b);
            if (saved != null) return saved;
            log.printf("[eval] %s: images of seed base %d again, for fidelity%n", UNPRUNED, b);
            try (NDManager m = NDManager.newBaseManager()) {
                List<Image> images = Evaluation.run(ShapesModel.load(o.model(), m), o.evalPrompts(), evaluationOptions(b),
                        null).images();
                saveUnprunedImages(b, images);
                return images;
            }
        });
    }

    private Path unprunedImagesFile(long base) {
        return variantDir(UNPRUNED).resolve("images-base" + base + ".safetensors");
    }

    private void saveUnprunedImages(long base, List<Image> images) {
        float[] all = new float[images.size() * Image.LENGTH];
        for (int i = 0; i < images.size(); i++) System.arraycopy(images.get(i).rgb(), 0, all, i * Image.LENGTH, Image.LENGTH);
        Path f = unprunedImagesFile(base);
        try {
            Files.createDirectories(f.getParent());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + f.getParent(), e);
        }
        new SafetensorsWriter().metadata("key", evalKey(UNPRUNED, base).toString())
                .add("images", DType.F32, new long[] {images.size(), Image.SIZE, Image.SIZE, Image.CHANNELS}, all).write(f);
    }

    /** The saved images of {@code base}, or null (and why, in the log) when there are none for this evaluation. */
    private List<Image> readUnprunedImages(long base) {
        Path f = unprunedImagesFile(base);
        if (!Files.isRegularFile(f)) return null;
        int n = o.evalPrompts().size() * o.seeds();
        try (SafetensorsReader r = SafetensorsReader.open(f)) {
            if (!evalKey(UNPRUNED, base).toString().equals(r.metadata().get("key"))) {
                log.printf("[eval] %s: %s holds the images of other prompts, seeds or steps%n", UNPRUNED, f);
                return null;
            }
            float[] all = r.readFloats("images");
            if (all.length != n * Image.LENGTH) {
                log.printf("[eval] %s: %s holds %d floats, expected %d images%n", UNPRUNED, f, all.length, n);
                return null;
            }
            List<Image> images = new ArrayList<>(n);
            for (int i = 0; i < n; i++) images.add(new Image(Arrays.copyOfRange(all, i * Image.LENGTH, (i + 1) * Image.LENGTH)));
            return images;
        } catch (RuntimeException e) {
            log.printf("[eval] %s: cannot read %s (%s)%n", UNPRUNED, f, e.getMessage());
            return null;
        }
    }

    /** Rows: the first prompt of each category; columns: seeds 0..gridSeeds−1. The same for every model. */
    private void grid(String name, Path model, String twin) {
        Path f = variantDir(name).resolve("grid.png");
        Path copy = dir.resolve("grids").resolve(name + ".png");
        try {
            Path twinGrid = twin == null ? null : variantDir(twin).resolve("grid.png");
            if (!Files.isRegularFile(f) && twinGrid != null && Files.isRegularFile(twinGrid)) copy(twinGrid, f);
            if (!Files.isRegularFile(f)) {
                List<String> prompts = new ArrayList<>();
                List<Long> seeds = new ArrayList<>();
                for (Prompt p : gridPrompts(o.evalPrompts())) {
                    for (int s = 0; s < o.gridSeeds(); s++) {
                        prompts.add(p.text());
                        seeds.add((long) s);
                    }
                }
                try (NDManager m = NDManager.newBaseManager()) {
                    ShapesModel sm = ShapesModel.load(model, m);
                    List<Image> images = sm.generate(prompts, seeds.stream().mapToLong(Long::longValue).toArray(), o.evalSteps(),
                            Evaluation.Options.defaults().guidance(), 16);
                    Files.createDirectories(f.getParent());
                    Path tmp = f.resolveSibling("grid.tmp.png");
                    Png.writeGrid(images, o.gridSeeds(), 4, tmp);
                    Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                }
            }
            Files.createDirectories(copy.getParent());
            Files.copy(f, copy, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the grid of " + name, e);
        }
    }

    private static void copy(Path from, Path to) {
        try {
            AtomicFiles.copy(from, to);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot copy " + from + " to " + to, e);
        }
    }

    /** The first prompt of each category, in category order. */
    static List<Prompt> gridPrompts(List<Prompt> prompts) {
        List<Prompt> out = new ArrayList<>();
        for (Category c : Category.values()) {
            for (Prompt p : prompts) {
                if (p.category() == c) {
                    out.add(p);
                    break;
                }
            }
        }
        return out;
    }

    private static JsonObject readJson(Path f) {
        try {
            return Files.isRegularFile(f) ? JsonParser.parseString(Files.readString(f)).getAsJsonObject() : null;
        } catch (IOException | RuntimeException e) {
            return null; // a damaged cache entry is recomputed
        }
    }

    static void write(Path file, String text) {
        try {
            Files.createDirectories(file.getParent());
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.writeString(tmp, text);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }
}
