package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.model.BlockId;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.LoraInjector;
import fastflux.model.ModelDir;
import fastflux.model.Module;
import fastflux.model.Param;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import fastflux.model.ShortcutDoubleBlock;
import fastflux.model.ShortcutSingleBlock;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import fastflux.shapes.ShapesModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * FastFLUX end to end (Algorithm 1 of the paper): rank the blocks by importance, then for each block in
 * order replace its residual branch by a least-squares linear fitted on the model's own calibration
 * trajectories and fine-tune the sandwich around it, with every earlier sandwich loaded; finally export the
 * pruned model. Each phase is a method so that the in-process command and the actor coordinator drive the
 * same pieces; after every block the job's state is written ({@link PruneState}) so that a killed job
 * resumes from its last completed block.
 */
public final class PruneJob {
    /** What the job reports while it runs: phase, block, progress, loss. */
    public interface Listener {
        Listener NONE = (phase, block, done, total, detail) -> {};

        void progress(String phase, String block, long done, long total, String detail);
    }

    /** Number of blocks a ratio replaces: round(R × blocks), at least one. */
    public static int blocksFor(double ratio, FluxParams p) {
        return Math.max(1, (int) Math.round(ratio * p.blockCount()));
    }

    private final Path baseDir;
    private final Path outDir;
    private final PruneOptions options;
    private final Listener listener;
    private final NDManager manager;
    private final BaseModel baseModel;
    private final FluxModel flux;
    private final LoraInjector lora;
    private final Map<String, Double> phaseSeconds = new LinkedHashMap<>();
    private PruneState state;

    public PruneJob(Path baseDir, Path outDir, PruneOptions options, Listener listener, NDManager manager) {
        this.baseDir = baseDir;
        this.outDir = outDir;
        this.options = options;
        this.listener = listener;
        this.manager = manager;
        this.baseModel = BaseModel.load(baseDir, manager);
        this.flux = baseModel.flux();
        if (!PrunedModels.replacements(flux).isEmpty()) {
            throw new IllegalArgumentException(baseDir + " is already pruned; prune from the full model");
        }
        this.lora = new LoraInjector(options.loraRank(), options.loraAlpha(), options.seed());
    }

    /** The transformer being pruned. */
    public FluxModel flux() {
        return flux;
    }

    /** Whether the base is a FLUX.1 transformer checkpoint: no text encoder, so no image generation or judging here. */
    public boolean transformerOnly() {
        return !baseModel.isShapes();
    }

    public PruneState state() {
        return state;
    }

    public Map<String, Double> phaseSeconds() {
        return phaseSeconds;
    }

    Path stateDir() {
        return outDir.resolve("state");
    }

    private Path reuseFrom;
    private boolean reuseAtRatio;
    private CalibrationRunner calibrationRunner = CalibrationRunner.IN_PROCESS;

    private ImportanceScorer.ProbeRunner probeRunner = ImportanceScorer.ProbeRunner.IN_PROCESS;

    /** Runs the importance probe's per-block measurements through {@code runner} (the daemon's fleet) instead of here. */
    public PruneJob probeRunner(ImportanceScorer.ProbeRunner runner) {
        this.probeRunner = runner;
        return this;
    }

    /** Runs BRLL's calibration passes through {@code runner} (the daemon's streams pipeline) instead of in-process. */
    public PruneJob calibrationRunner(CalibrationRunner runner) {
        this.calibrationRunner = runner;
        return this;
    }

    /**
     * Builds this (lower) ratio from a finished run to a higher ratio instead of training (the paper's reuse of
     * components trained at a high ratio): the first blocks of that run's order are replaced with its
     * linears, and kept blocks carry that run's final adapters, merged at export. A block that run replaced
     * but this one keeps loses the adapter it may have had before its replacement (that run no longer holds it).
     * Those final adapters were trained with more blocks replaced than this ratio keeps: on the Shapes model the
     * reused 20 % model from a 30 % run equals a trained one, the reused 5 % model is 0.14 worse (README, Table 6).
     */
    public PruneJob reuseFrom(Path runDir) {
        return reuseFrom(runDir, false);
    }

    /**
     * As {@link #reuseFrom(Path)}, or with {@code atRatio} the run's components as they were when it had replaced
     * exactly this ratio's blocks (its stage, {@link PruneState#readStage}): the model a run trained to this ratio
     * directly would give, since the method is progressive, without training it again.
     */
    public PruneJob reuseFrom(Path runDir, boolean atRatio) {
        this.reuseFrom = runDir;
        this.reuseAtRatio = atRatio;
        return this;
    }

    private PrecomputedCalibrationSource calibFile;

    /**
     * Calibrates on a file of precomputed conditioning ({@link PrecomputedCalibrationSource}: {@code txt},
     * {@code y}, and {@code neg_txt}/{@code neg_y} for classifier-free guidance) instead of grammar prompts: how a
     * checkpoint whose text encoders this project does not run is calibrated. The file is opened and checked
     * against the model here, before any work, and stays mapped for the job's life (rows are read per batch).
     */
    public PruneJob calibrationFrom(Path file) {
        this.calibFile = baseModel.openCalibrationFile(file);
        return this;
    }

    /** The options as saved in the state: a calibration file is part of them, so a resume must use the same. */
    private JsonObject savedOptions() {
        JsonObject o = options.toJson();
        if (calibFile != null) o.add(JobOptions.CALIB_FILE.name(), JobOptions.CALIB_FILE.toJson(calibFile.file().toAbsolutePath().normalize()));
        if (calibFile != null && !baseModel.isShapes()) o.addProperty("calib-tokens", calibFile.latentTokens());
        return o;
    }

    /**
     * Checks that a job of these options can run on its base model's kind: a FLUX.1 transformer checkpoint (not
     * {@code shapes}) has no text encoder, so it calibrates from a file of precomputed conditioning and cannot rank
     * blocks by generating and judging images. Called by {@link #begin} and, before any work, by whoever takes a job.
     */
    public static void requireRunnable(Path model, boolean shapes, PruneOptions options, boolean calibFile) {
        if (shapes) return;
        if (!calibFile) {
            throw new IllegalArgumentException(model + " is a FLUX.1 transformer checkpoint (no text_encoder.*): its "
                    + "calibration prompts must come precomputed, --calib-file FILE (txt, y per prompt)");
        }
        if (options.order() == PruneOptions.Order.IMPORTANCE && options.importanceFrom() == null
                && !options.importance().equals(ImportanceScorer.OUTPUT_MSE)) {
            throw new IllegalArgumentException("importance " + options.importance() + " generates and judges Shapes "
                    + "images; for the FLUX.1 checkpoint " + model + " use --importance output-mse or --importance-from FILE");
        }
    }

    /** Loads the saved state of an interrupted run of the same options, or starts a new one. */
    public PruneState begin() {
        startNanos = System.nanoTime();
        requireRunnable(baseDir, baseModel.isShapes(), options, calibFile != null);
        if (reuseFrom != null) return beginFromRun(reuseFrom);
        PruneState saved = PruneState.read(stateDir(), flux.config());
        if (saved != null) {
            // compared as values, whatever spelling the saved state used
            List<String> differ = PruneOptions.differences(saved.options(), savedOptions());
            if (!differ.isEmpty()) {
                throw new IllegalArgumentException(outDir + " holds a run with other options; use another --out or the same options\n  "
                        + String.join("\n  ", differ));
            }
            state = saved;
            restoreComponents();
        } else {
            state = PruneState.fresh(savedOptions(), blocksFor(options.ratio(), flux.config()));
        }
        return state;
    }

    /** Phase 1: the replacement order (importance ranking, or positional). */
    public List<BlockId> order() {
        if (state.order() != null) return state.order();
        long t0 = System.nanoTime();
        FluxParams p = flux.config();
        List<BlockId> order = new ArrayList<>();
        switch (options.order()) {
            case START2END -> {
                for (int i = 0; i < p.blockCount(); i++) order.add(BlockId.atPosition(i, p));
            }
            case END2START -> {
                for (int i = p.blockCount() - 1; i >= 0; i--) order.add(BlockId.atPosition(i, p));
            }
            case IMPORTANCE -> {
                ImportanceReport report = importance();
                report.write(outDir);
                for (ImportanceReport.Entry e : report.ranked()) order.add(e.block());
            }
        }
        state = state.withOrder(order);
        phaseSeconds.merge("importance", (System.nanoTime() - t0) / 1e9, Double::sum);
        save();
        return order;
    }

    private ImportanceReport importance() {
        listener.progress("importance", "", 0, flux.config().blockCount(), options.importance());
        if (options.importanceFrom() != null) return ImportanceReport.read(options.importanceFrom(), flux.config());
        int n = flux.config().blockCount();
        if (options.importance().equals(ImportanceScorer.OUTPUT_MSE)) {
            return ImportanceScorer.byOutputMse(calibration(), probeRunner,
                    (done, block) -> listener.progress("importance", block.name(), done, n, "switched off, outputs compared"));
        }
        return ImportanceScorer.byGeneration(baseModel.shapes("fd-align importance"), ImportanceScorer.GenerationOptions.defaults(),
                (done, block) -> listener.progress("importance", block.name(), done, n, "switched off and judged"), probeRunner);
    }

    /**
     * The importance probe of this job's metric for {@code blocks} alone, as {@link #order()} would measure them:
     * what another daemon of a fleet runs for the job's node ({@link ImportanceScorer.ProbeRunner}).
     */
    public double[][] measureBlocks(List<BlockId> blocks) {
        ImportanceScorer.BlockProbe probe = options.importance().equals(ImportanceScorer.OUTPUT_MSE)
                ? ImportanceScorer.outputMseProbe(calibration())
                : ImportanceScorer.generationProbe(baseModel.shapes("fd-align importance"), ImportanceScorer.GenerationOptions.defaults());
        return probe.measure(blocks, (done, block) -> {});
    }

    /** The calibration stream: grammar prompts with their own seed (never an evaluation file), or the given file's. */
    public Calibration calibration() {
        CalibrationSource source = calibFile != null ? calibFile : grammarCalibration();
        Calibration.Options co = Calibration.Options.defaults().withSteps(options.calibSteps());
        return new Calibration(flux, source, co);
    }

    private ShapesCalibrationSource grammarCalibration() {
        return ShapesCalibrationSource.fromGrammar(baseModel.shapes("grammar calibration"), options.calibPrompts(),
                Calibration.Options.DEFAULT_PROMPT_SEED + options.seed());
    }

    /**
     * The sandwich's held-out calibration: a quarter as many grammar prompts as {@link #calibration()}, 4 to 16
     * (bounded, so the held-out pairs' memory does not grow with the calibration), none of its prompt texts, other
     * noise seeds; never trained on, it measures whether sandwich training carries over to prompts it did not see.
     * Null with a calibration file (all its prompts are trained on).
     */
    Calibration heldOutCalibration() {
        if (calibFile != null) return null;
        return new Calibration(flux, heldOutPrompts(), Calibration.Options.defaults().withSteps(options.calibSteps())
                .withSeeds(HELD_OUT_NOISE_SEEDS));
    }

    private ShapesCalibrationSource heldOutPrompts() {
        int n = Math.max(4, Math.min(16, options.calibPrompts() / 4));
        return ShapesCalibrationSource.heldOut(grammarCalibration(), n,
                Calibration.Options.DEFAULT_PROMPT_SEED + options.seed() + HELD_OUT_SEED_OFFSET);
    }

    /** Rows of a calibration file the report's output fidelity samples (with the held-out noise seeds). */
    static final int FIDELITY_FILE_ROWS = 8;

    /**
     * The report's output fidelity ({@link OutputFidelity}) of the exported model against {@code base}: the sandwich's
     * held-out grammar prompts, or with a calibration file its first {@value #FIDELITY_FILE_ROWS} rows (prompts
     * calibrated on, since the file is all there is, with noise seeds calibration never drew); the calibration's
     * sampler steps.
     */
    private OutputFidelity.Result outputFidelity(FluxModel exported, FluxModel base) {
        CalibrationSource source = calibFile == null ? heldOutPrompts()
                : CalibrationSource.firstRows(calibFile, Math.min(FIDELITY_FILE_ROWS, calibFile.size()));
        Calibration.Options co = Calibration.Options.defaults().withSteps(options.calibSteps()).withSeeds(HELD_OUT_NOISE_SEEDS);
        return OutputFidelity.measure(exported, new Calibration(base, source, co));
    }

    private static final long HELD_OUT_SEED_OFFSET = 7_919;
    private static final long[] HELD_OUT_NOISE_SEEDS = {100, 101};

    /** Noise seeds of the held-out measurements (the sandwich's held-out pairs, the output fidelity); calibration's are 0, 1. */
    public static long[] heldOutNoiseSeeds() {
        return HELD_OUT_NOISE_SEEDS.clone();
    }

    /** Phases 2..: replace, fit and train each block of the order that is not done yet. */
    public void replaceBlocks() {
        while (replaceOne()) {
            // one block per iteration; the state is saved after each
        }
    }

    /** Replaces the next block of the order (collect, solve, checkpoint, sandwich-train, checkpoint); false when done. */
    public boolean replaceOne() {
        if (state.completed().size() >= state.target() && state.fitted() == null) return false;
        fitNext();
        trainFitted();
        return true;
    }

    /** The layer the pending block replaced (its original weights, for the sandwich's recording), or null. */
    private Module pendingOriginal;

    /**
     * Phase "fit" of the next block: collect the least squares over calibration trajectories and solve (or, in
     * delete mode, switch the block to its shortcut), install the result, checkpoint. A block already fitted
     * (the state's {@code fitted}) is left as it is. False when every block is done.
     */
    public boolean fitNext() {
        List<BlockId> order = order();
        int k = state.completed().size();
        if (state.fitted() != null) return true;
        if (k >= state.target()) return false;
        BlockId block = order.get(k);
        long t0 = System.nanoTime();
        Map<String, Double> residuals = Map.of();
        Map<String, BlockFitter.StepProfile> steps = Map.of();
        if (options.mode() == Replacement.Mode.LINEAR) {
            listener.progress("collect", block.name(), k, state.target(), "least squares over calibration trajectories");
            BlockFitter.FittedBlock fitted = BlockFitter.fit(calibration(), List.of(block), BlockFitter.Options.defaults(), manager,
                    calibrationRunner).get(0);
            residuals = fitted.residuals();
            steps = fitted.steps();
            pendingOriginal = fitted.install(flux);
        } else {
            String prefix = block.name() + ".";
            pendingOriginal = block.kind() == BlockId.Kind.DOUBLE
                    ? flux.setDouble(block.index(), new ShortcutDoubleBlock(prefix))
                    : flux.setSingle(block.index(), new ShortcutSingleBlock(prefix));
        }
        phaseSeconds.merge("collect+solve", (System.nanoTime() - t0) / 1e9, Double::sum);
        state = state.withFitted(new PruneState.BlockResult(block, options.mode(), residuals, steps, null));
        checkpoint(block, k);
        return true;
    }

    /**
     * Phase "sandwich" of the fitted block (paper §3.2, with every earlier sandwich loaded), then checkpoint; the
     * block is done. Without sandwich training it only marks the block done.
     */
    public void trainFitted() {
        PruneState.BlockResult fitted = state.fitted();
        if (fitted == null) throw new IllegalStateException("no fitted block is waiting for its sandwich training");
        BlockId block = fitted.block();
        int k = state.completed().size();
        SandwichTrainer.Result st = null;
        if (options.sandwichTraining() && options.stSteps() > 0) {
            long t1 = System.nanoTime();
            listener.progress("sandwich", block.name(), k, state.target(), "width " + options.sandwichWidth());
            SandwichTrainer.Options so = SandwichTrainer.Options.of(options, outDir, options.seed() + k);
            st = SandwichTrainer.train(flux, block, pendingOriginal, calibration(), heldOutCalibration(), so, manager,
                    SandwichTrainer.FreeSpace.SYSTEM, calibrationRunner);
            listener.progress("sandwich", block.name(), k + 1, state.target(),
                    String.format(Locale.ROOT, "loss %.5f -> %.5f", st.initialLoss(), st.finalLoss())
                            + (Double.isNaN(st.heldOutInitialLoss()) ? "" : String.format(Locale.ROOT,
                                    " (held out %.5f -> %.5f)", st.heldOutInitialLoss(), st.heldOutFinalLoss())));
            phaseSeconds.merge("sandwich", (System.nanoTime() - t1) / 1e9, Double::sum);
        }
        closeTree(pendingOriginal);
        pendingOriginal = null;
        state = state.withCompleted(fitted.withTraining(st));
        checkpoint(block, k + 1);
    }

    private void checkpoint(BlockId block, int blocksDone) {
        long t0 = System.nanoTime();
        listener.progress("checkpoint", block.name(), blocksDone, state.target(), stateDir().toString());
        save();
        phaseSeconds.merge("checkpoint", (System.nanoTime() - t0) / 1e9, Double::sum);
    }

    private static void closeTree(Module m) {
        for (Param p : m.params().values()) if (p.hasValue()) p.value().close();
    }

    /** Final phase: the pruned model directory, LoRA merged, in the base checkpoint's dtype. */
    public void export() {
        long t0 = System.nanoTime();
        listener.progress("export", "", 0, 1, outDir.toString());
        if (baseModel.isShapes()) {
            baseModel.shapes("export").exportPruned(baseDir, outDir);
        } else {
            PrunedModels.export(flux, baseDir, outDir);
        }
        phaseSeconds.merge("export", (System.nanoTime() - t0) / 1e9, Double::sum);
    }

    /** Quality of a model on the report's prompt set: judge overall per category and FD, and the images judged. */
    public fastflux.shapes.Evaluation.Result evaluate(java.util.List<fastflux.shapes.Prompt> prompts, int seeds, String label) {
        long t0 = System.nanoTime();
        listener.progress("evaluate", label, 0, (long) prompts.size() * seeds, "");
        fastflux.shapes.Evaluation.Options eo = fastflux.shapes.Evaluation.Options.defaults();
        eo = new fastflux.shapes.Evaluation.Options(seeds, 0, eo.steps(), eo.guidance(), eo.batch(), null);
        fastflux.shapes.Evaluation.Result r = fastflux.shapes.Evaluation.run(baseModel.shapes("evaluation"), prompts, eo,
                (done, total) -> listener.progress("evaluate", label, done, total, "images"));
        phaseSeconds.merge("evaluate", (System.nanoTime() - t0) / 1e9, Double::sum);
        return r;
    }

    /**
     * One transformer forward on the report's work for {@code pruned} and {@code base}, timed interleaved round by
     * round ({@link fastflux.model.ForwardTimer}) so that the machine's drift lands on both alike.
     */
    public fastflux.model.ForwardTimer.Timing latency(FluxModel pruned, FluxModel base, int rounds) {
        try (NDManager m = manager.newSubManager()) {
            fastflux.model.FluxInputs in = fastflux.model.FluxInputs.random(flux.config(), m, workRows(), workImgTokens(),
                    workTxtTokens(), 1);
            return fastflux.model.ForwardTimer.time(List.of(pruned, base), in, 3, rounds);
        }
    }

    /**
     * The work latency and FLOPs are measured on: for a Shapes model 32 images in both guidance halves (64 rows),
     * for a FLUX.1 checkpoint one image (both halves without a guidance embedding) at the calibration file's
     * latent size and text length.
     */
    private int workRows() {
        return baseModel.isShapes() ? 64 : flux.config().guidanceEmbed() ? 1 : 2;
    }

    private int workImgTokens() {
        return baseModel.isShapes() ? fastflux.shapes.Latents.TOKENS : calibFile.latentTokens();
    }

    private int workTxtTokens() {
        return baseModel.isShapes() ? baseModel.shapes("text").text().maxWords() : calibFile.textLength();
    }

    /** Forward FLOPs on the same work, replaced blocks counted as their linears and deleted ones as nothing. */
    public long flops() {
        Map<String, Replacement.Mode> replaced = new LinkedHashMap<>();
        for (Replacement r : PrunedModels.replacements(flux)) replaced.put(r.block().name(), r.mode());
        return flops(replaced);
    }

    /** Forward FLOPs with the given blocks replaced (none: the base model, whatever this job has replaced so far). */
    private long flops(Map<String, Replacement.Mode> replaced) {
        return fastflux.model.FlopCount.forward(flux.config(), workRows(), workImgTokens(), workTxtTokens(),
                (id, original, p, b, li, lt) -> !replaced.containsKey(id) ? original
                        : replaced.get(id) == Replacement.Mode.DELETE ? 0 : fastflux.model.FlopCount.replacedBlock(p, b, li + lt));
    }

    /** The report's quality comparison: the prompts both models generate, images per prompt, and their label. */
    public record Quality(List<fastflux.shapes.Prompt> prompts, int seeds, String label) {
        public Quality {
            if (prompts == null || prompts.isEmpty()) throw new IllegalArgumentException("no quality prompts");
            if (seeds < 1) throw new IllegalArgumentException("quality seeds must be positive, got " + seeds);
        }
    }

    private JsonObject baseQuality;
    /** The base model's images of the quality prompts, which the pruned model's are compared with (fidelity). */
    private List<fastflux.shapes.Image> baseImages;
    private long startNanos = System.nanoTime();

    /**
     * Whether the base model's quality is still to be measured on the model in memory: before the first block is
     * replaced (a run resumed later measures a fresh copy of the base in {@link #report}).
     */
    public boolean needsBaseQuality(Quality quality) {
        return quality != null && baseModel.isShapes() && baseQuality == null && state.completed().isEmpty() && state.fitted() == null;
    }

    /** The base model's quality, measured on the model in memory before any block is replaced. */
    public void measureBaseQuality(Quality quality) {
        if (!state.completed().isEmpty() || state.fitted() != null) {
            throw new IllegalStateException("the model in memory is no longer the base model");
        }
        fastflux.shapes.Evaluation.Result r = evaluate(quality.prompts(), quality.seeds(), "base");
        baseQuality = r.report().toJsonObject();
        baseImages = r.images();
    }

    /**
     * The whole run as the {@code prune} command does it: order, replacements, export, then the base and
     * pruned models measured on the same prompts and work. Resumes from the saved state if there is one.
     */
    public JsonObject runAll(List<fastflux.shapes.Prompt> qualityPrompts, int qualitySeeds, String promptsLabel) {
        Quality quality = qualityPrompts == null ? null : new Quality(qualityPrompts, qualitySeeds, promptsLabel);
        begin();
        if (needsBaseQuality(quality)) measureBaseQuality(quality);
        order();
        replaceBlocks();
        export();
        return report(quality);
    }

    /**
     * The last phase, after {@link #export}: quality of base and pruned models on the same prompts (when
     * {@code quality} is given), FLOPs and latency of both (timed interleaved), time per phase; written as
     * {@code report.json} and {@code report.md} in the output directory and returned.
     */
    public JsonObject report(Quality quality) {
        if (state.order() == null || state.completed().size() < state.target()) {
            throw new IllegalStateException("report before every block is replaced (" + state.completed().size() + "/" + state.target() + ")");
        }
        FluxParams p = flux.config();
        JsonObject report = new JsonObject();
        report.addProperty("base", baseDir.toString());
        report.addProperty("out", outDir.toString());
        report.add("options", savedOptions());
        report.addProperty("block_count", p.blockCount());
        report.addProperty("replaced_count", state.completed().size());
        JsonArray order = new JsonArray();
        state.order().forEach(b -> order.add(b.name()));
        report.add("order", order);
        JsonArray blocks = new JsonArray();
        for (PruneState.BlockResult r : state.completed()) blocks.add(PruneState.resultJson(r));
        report.add("blocks", blocks);
        if (quality != null && !baseModel.isShapes()) {
            report.addProperty("quality_not_measured", "a FLUX.1 transformer checkpoint: no text encoder or VAE here to "
                    + "generate and judge images (the output fidelity below compares the transformers alone)");
        } else if (quality != null) {
            if (baseQuality == null) {
                // A resumed run: measure the base model on a fresh copy.
                try (NDManager m = manager.newSubManager()) {
                    ShapesModel base = ShapesModel.load(baseDir, m);
                    fastflux.shapes.Evaluation.Options eo = fastflux.shapes.Evaluation.Options.defaults();
                    fastflux.shapes.Evaluation.Result r = fastflux.shapes.Evaluation.run(base, quality.prompts(),
                            new fastflux.shapes.Evaluation.Options(quality.seeds(), 0, eo.steps(), eo.guidance(), eo.batch(), null), null);
                    baseQuality = r.report().toJsonObject();
                    baseImages = r.images();
                }
            }
            JsonObject q = new JsonObject();
            q.addProperty("prompts", quality.label() + ", " + quality.seeds() + " seeds");
            q.add("base", baseQuality);
            fastflux.shapes.Evaluation.Result pruned = evaluate(quality.prompts(), quality.seeds(), "pruned");
            q.add("pruned", pruned.report().toJsonObject());
            q.add("fidelity", fastflux.shapes.Fidelity.of(quality.prompts(), quality.seeds(), baseImages, pruned.images())
                    .toJson("base"));
            report.add("quality", q);
        }
        JsonObject speed = new JsonObject();
        // Both models timed here, interleaved on the same work, so the ratio compares like with like.
        listener.progress("speed", "", 0, 2, "latency of the pruned and base models");
        fastflux.model.ForwardTimer.Timing timing;
        OutputFidelity.Result fidelity;
        try (NDManager m = manager.newSubManager()) {
            // the exported model as a user loads it (adapters merged), not the job's model with LoRA still attached
            FluxModel exported = ModelDir.load(outDir, m, DataType.FLOAT32, java.util.Set.of());
            FluxModel base = ModelDir.load(baseDir, m, DataType.FLOAT32, java.util.Set.of());
            timing = latency(exported, base, 21);
            long t0 = System.nanoTime();
            listener.progress("fidelity", "", 0, 1, "the exported model's outputs against the base model's");
            fidelity = outputFidelity(exported, base);
            listener.progress("fidelity", "", 1, 1, String.format(java.util.Locale.ROOT, "step %.4f, latent %.4f",
                    fidelity.stepError(), fidelity.latentError()));
            phaseSeconds.merge("fidelity", (System.nanoTime() - t0) / 1e9, Double::sum);
        }
        report.add("output_fidelity", fidelity.toJson());
        double prunedMs = timing.medianMs(0);
        double baseMs = timing.medianMs(1);
        double[] ratio = timing.ratioQuartiles(0, 1);
        listener.progress("speed", "", 2, 2, String.format(java.util.Locale.ROOT, "%.1f ms pruned, %.1f ms base", prunedMs, baseMs));
        long baseFlops = flops(Map.of());
        long prunedFlops = flops();
        speed.addProperty("work", "batch " + workRows() + (baseModel.isShapes() ? " = 32 images x 2 guidance halves, " : ", ")
                + workImgTokens() + " img + " + workTxtTokens() + " txt tokens, fp32, in-process; the exported model "
                + "(adapters merged) against the base, both loaded from their directories");
        speed.addProperty("base_flops", baseFlops);
        speed.addProperty("pruned_flops", prunedFlops);
        speed.addProperty("base_ms", baseMs);
        speed.addProperty("pruned_ms", prunedMs);
        speed.addProperty("flop_ratio", (double) prunedFlops / baseFlops);
        // the median of the per-round ratios: each round times both models back to back, so drift cancels
        speed.addProperty("latency_ratio", ratio[1]);
        speed.addProperty("latency_ratio_q1", ratio[0]);
        speed.addProperty("latency_ratio_q3", ratio[2]);
        speed.addProperty("latency_rounds", timing.rounds());
        report.add("speed", speed);
        phaseSeconds.put("total", (System.nanoTime() - startNanos) / 1e9);
        JsonObject secs = new JsonObject();
        phaseSeconds.forEach(secs::addProperty);
        report.add("seconds", secs);
        PruneReport.write(outDir, report);
        return report;
    }

    /** Writes the state: the JSON manifest plus every trained component (replaced linears, LoRA adapters). */
    void save() {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        for (Replacement r : PrunedModels.replacements(flux)) {
            var layer = r.block().kind() == BlockId.Kind.DOUBLE ? flux.doubleBlocks().get(r.block().index())
                    : flux.singleBlocks().get(r.block().index());
            for (Param p : ((Module) layer).params().values()) tensors.put(p.name(), p.value());
        }
        for (Param p : LoraInjector.trainableParams(flux).values()) {
            if (p.name().contains(".lora_")) tensors.put(p.name(), p.value());
        }
        if (pendingOriginal != null) {
            // the fitted block's original may carry an adapter of an earlier sandwich: its sandwich records with it
            for (Param p : LoraInjector.adapterParams(pendingOriginal).values()) tensors.put(p.name(), p.value());
        }
        // the stage first: a run killed between the two writes redoes the block and writes its stage again
        if (state.fitted() == null && !state.completed().isEmpty()) state.writeStage(stateDir(), tensors);
        state = state.write(stateDir(), tensors);
    }

    private PruneState beginFromRun(Path runDir) {
        FluxParams p = flux.config();
        PruneState other = PruneState.read(runDir.resolve("state"), p);
        int target = blocksFor(options.ratio(), p);
        if (other == null || other.order() == null) {
            throw new IllegalArgumentException(runDir + " holds no pruning state to reuse (state/state-NNNN.json)");
        }
        if (other.completed().size() < target) {
            throw new IllegalArgumentException(runDir + " replaced " + other.completed().size() + " blocks; ratio "
                    + options.ratio() + " needs " + target + ": reuse needs a run to a ratio at least as high");
        }
        List<PruneState.BlockResult> first = other.completed().subList(0, target);
        Path components = other.componentsFile(runDir.resolve("state"));
        if (reuseAtRatio) {
            PruneState stage = PruneState.readStage(runDir.resolve("state"), target, p);
            if (stage == null) {
                throw new IllegalArgumentException(runDir + " kept no stage after " + target + " blocks (state/stage-"
                        + String.format("%04d", target) + ".json; runs made before stages were kept have only their final "
                        + "components): reuse those without --reuse-at-ratio, or train this ratio");
            }
            components = stage.stageComponentsFile(runDir.resolve("state"));
        }
        java.util.Set<String> replacedNames = new java.util.HashSet<>();
        List<Replacement> done = new ArrayList<>();
        for (PruneState.BlockResult r : first) {
            done.add(new Replacement(r.block(), r.mode()));
            replacedNames.add(r.block().name());
        }
        for (Module old : PrunedModels.apply(flux, done)) closeTree(old);
        try (SafetensorsReader reader = SafetensorsReader.open(components)) {
            Map<String, Param> all = new LinkedHashMap<>(flux.params());
            for (String name : reader.names()) {
                String blockName = name.substring(0, name.indexOf('.', name.indexOf('.') + 1));
                if (name.contains(".lora_") && !replacedNames.contains(blockName)) {
                    lora.inject(flux, BlockId.parse(blockName, p), manager);
                    all.putAll(LoraInjector.trainableParams(flux));
                }
            }
            for (String name : reader.names()) {
                Param param = all.get(name);
                if (param != null) param.set(reader.load(name, manager, DataType.FLOAT32));
            }
        }
        state = PruneState.fresh(savedOptions(), target).withOrder(other.order());
        for (PruneState.BlockResult r : first) state = state.withCompleted(r);
        save();
        return state;
    }

    /** Rebuilds the model of a saved state: replacements in order, then every saved component. */
    private void restoreComponents() {
        List<Replacement> done = new ArrayList<>();
        for (PruneState.BlockResult r : state.completed()) done.add(new Replacement(r.block(), r.mode()));
        for (Module old : PrunedModels.apply(flux, done)) closeTree(old);
        PruneState.BlockResult fitted = state.fitted();
        try (SafetensorsReader reader = SafetensorsReader.open(state.componentsFile(stateDir()))) {
            // adapters first, while a fitted block's original still holds its slot (it may carry one of its own)
            java.util.Set<BlockId> replacedNow = new java.util.HashSet<>();
            for (Replacement r : PrunedModels.replacements(flux)) replacedNow.add(r.block());
            for (String name : reader.names()) {
                if (name.contains(".lora_")) {
                    BlockId id = BlockId.parse(name.substring(0, name.indexOf('.', name.indexOf('.') + 1)), flux.config());
                    if (!replacedNow.contains(id)) lora.inject(flux, id, manager); // a replaced one: restored by an earlier begin()
                }
            }
            Map<String, Param> all = new LinkedHashMap<>(LoraInjector.trainableParams(flux));
            if (fitted != null) { // fitted before the stop: its linear comes from the components, its original stays for the sandwich
                List<Module> replaced = PrunedModels.apply(flux, List.of(new Replacement(fitted.block(), fitted.mode())));
                if (!replaced.isEmpty()) pendingOriginal = replaced.get(0); // empty: restored already by an earlier begin()
            }
            all.putAll(flux.params());
            all.putAll(LoraInjector.trainableParams(flux));
            if (pendingOriginal != null) all.putAll(LoraInjector.adapterParams(pendingOriginal));
            for (String name : reader.names()) {
                Param p = all.get(name);
                if (p == null) throw new IllegalStateException(stateDir() + ": saved component " + name + " has no place in the model");
                p.set(reader.load(name, manager, DataType.FLOAT32));
            }
        }
    }
}
