package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import fastflux.model.BlockId;
import fastflux.model.DoubleStreamLayer;
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
import fastflux.model.SingleStreamLayer;
import fastflux.model.io.SafetensorsReader;
import fastflux.world.World;
import fastflux.world.Worlds;
import java.nio.file.Path;
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

        /**
         * One step of {@code block}'s sandwich training ({@link SandwichTrainer.StepListener}: the step's minibatch
         * loss, or a held-out loss measured after {@code step} steps; the other NaN). Called on the thread that
         * trains, which may be the streaming trainer's: an implementation only hands the figures on.
         */
        default void sandwichStep(String block, int step, int steps, double loss, double heldOutLoss) {}
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
    private final Map<String, String> worldSettings;
    private PruneState state;

    public PruneJob(Path baseDir, Path outDir, PruneOptions options, Listener listener, NDManager manager) {
        this(baseDir, outDir, options, Map.of(), listener, manager, DataType.FLOAT32);
    }

    /**
     * A job whose base is opened with {@code worldSettings}: the given options of {@link JobOptions#WORLD} by name,
     * values as text (a FLUX.1 pipeline directory's prompts, CLIP, sizes, sampler settings); saved with the options.
     */
    public PruneJob(Path baseDir, Path outDir, PruneOptions options, Map<String, String> worldSettings, Listener listener,
                    NDManager manager) {
        this(baseDir, outDir, options, worldSettings, listener, manager, DataType.FLOAT32);
    }

    /** A job whose transformer is held in {@code dtype}, without world settings. */
    public PruneJob(Path baseDir, Path outDir, PruneOptions options, Listener listener, NDManager manager, DataType dtype) {
        this(baseDir, outDir, options, Map.of(), listener, manager, dtype);
    }

    /**
     * A job with world settings whose transformer is held in {@code dtype} (FLOAT32, or FLOAT16 on GPUs): the weights
     * once, in that dtype; the adapters in fp32. The report loads the export and the base in the same dtype.
     */
    public PruneJob(Path baseDir, Path outDir, PruneOptions options, Map<String, String> worldSettings, Listener listener,
                    NDManager manager, DataType dtype) {
        this(baseDir, outDir, options, worldSettings, listener, manager, dtype, List.of());
    }

    /**
     * As {@link #PruneJob(Path, Path, PruneOptions, Map, Listener, NDManager, DataType)}, the transformer split over
     * {@code devices} ({@link BaseModel.LoadOptions#withDevices}); {@code manager} is on the first.
     */
    public PruneJob(Path baseDir, Path outDir, PruneOptions options, Map<String, String> worldSettings, Listener listener,
                    NDManager manager, DataType dtype, List<ai.djl.Device> devices) {
        this.baseDir = baseDir;
        this.outDir = outDir;
        this.options = options;
        this.listener = listener;
        this.manager = manager;
        this.worldSettings = Map.copyOf(worldSettings);
        this.baseModel = BaseModel.load(baseDir, manager,
                new BaseModel.LoadOptions(withOut(worldSettings, outDir), dtype, devices));
        this.flux = baseModel.flux();
        if (!PrunedModels.replacements(flux).isEmpty()) {
            throw new IllegalArgumentException(baseDir + " is already pruned; prune from the full model");
        }
        this.lora = new LoraInjector(options.loraRank(), options.loraAlpha(), options.seed());
    }

    private static Map<String, String> withOut(Map<String, String> settings, Path outDir) {
        Map<String, String> s = new LinkedHashMap<>(settings);
        s.put(fastflux.world.WorldProvider.OUT, outDir.toAbsolutePath().normalize().toString());
        return s;
    }

    /** The transformer being pruned. */
    public FluxModel flux() {
        return flux;
    }

    /** Whether the base is a FLUX.1 transformer checkpoint: no text encoder, so no image generation or judging here. */
    public boolean transformerOnly() {
        return !baseModel.hasWorld();
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
    private SandwichTrainer.Feed sandwichFeed = SandwichTrainer.Feed.IN_PROCESS;

    /** Feeds the sandwich trainer through {@code feed} (the daemon's trainer actor) instead of in the recording thread. */
    public PruneJob sandwichFeed(SandwichTrainer.Feed feed) {
        this.sandwichFeed = feed;
        return this;
    }

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
     * reused 20 % model from a 30 % run equals a trained one (docs/method.md, "Reuse at a lower ratio").
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

    private World.ExportChoices exportChoices = World.ExportChoices.DEFAULT;

    /** How the export is written where the world's layout has the choice ({@link JobOptions#COPY}, {@link JobOptions#SHARD_SIZE}). */
    public PruneJob exportChoices(World.ExportChoices choices) {
        this.exportChoices = choices;
        return this;
    }

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
        if (calibFile != null && !baseModel.hasWorld()) o.addProperty("calib-tokens", calibFile.latentTokens());
        for (Option<?> w : JobOptions.WORLD) {
            String text = worldSettings.get(w.name());
            if (text != null) o.add(w.name(), settingJson(w, text));
        }
        // fp16 gives other bytes than fp32, so a resume must use the same; fp32 runs' states stay as they were
        if (flux.dtype() != DataType.FLOAT32) o.addProperty(JobOptions.DTYPE.name(), fastflux.pruning.plan.ComputeDtype.name(flux.dtype()));
        return o;
    }

    private static <T> com.google.gson.JsonElement settingJson(Option<T> o, String text) {
        T v = o.parse(text);
        return o.toJson(v instanceof Path p ? o.cast(p.toAbsolutePath().normalize()) : v);
    }

    /**
     * Checks that a job of these options can run on its base model's kind: a FLUX.1 transformer checkpoint (not
     * {@code hasWorld}) has no text encoder, so it calibrates from a file of precomputed conditioning and cannot rank
     * blocks by generating and judging images. Called by {@link #begin} and, before any work, by whoever takes a job.
     */
    public static void requireRunnable(Path model, boolean hasWorld, PruneOptions options, boolean calibFile) {
        if (hasWorld) return;
        if (!calibFile) {
            throw new IllegalArgumentException(model + " is a FLUX.1 transformer checkpoint (no text_encoder.*): its "
                    + "calibration prompts must come precomputed, --calib-file FILE (txt, y per prompt)");
        }
        if (options.order() == PruneOptions.Order.IMPORTANCE && options.importanceFrom() == null
                && !options.importance().equals(ImportanceScorer.OUTPUT_MSE)) {
            throw new IllegalArgumentException("importance " + options.importance() + " generates and judges "
                    + "images; for the FLUX.1 checkpoint " + model + " use --importance output-mse or --importance-from FILE");
        }
    }

    /** Loads the saved state of an interrupted run of the same options, or starts a new one. */
    public PruneState begin() {
        startNanos = System.nanoTime();
        requireRunnable(baseDir, baseModel.hasWorld(), options, calibFile != null);
        if (baseModel.hasWorld() && options.order() == PruneOptions.Order.IMPORTANCE && options.importanceFrom() == null
                && options.importance().equals(ImportanceScorer.FD_ALIGN)) {
            requireJudge("importance fd-align");
        }
        if (reuseFrom != null) return beginFromRun(reuseFrom);
        PruneState newest = PruneState.read(stateDir(), flux.config());
        if (newest != null) {
            // compared as values, whatever spelling the saved state used
            List<String> differ = PruneOptions.differences(newest.options(), savedOptions());
            if (!differ.isEmpty()) {
                throw new IllegalArgumentException(outDir + " holds a run with other options; use another --out or the same options\n  "
                        + String.join("\n  ", differ));
            }
        }
        PruneState saved = PruneState.resume(stateDir(), flux.config(), this::restore);
        state = saved != null ? saved : PruneState.fresh(savedOptions(), blocksFor(options.ratio(), flux.config()));
        return state;
    }

    /** Refuses work that judges images when the world cannot (a FLUX.1 pipeline without --clip), naming what to give. */
    private void requireJudge(String what) {
        String missing = baseModel.world(what).judgeMissing();
        if (missing != null) {
            throw new IllegalArgumentException(what + " judges generated images: " + missing
                    + (what.startsWith("importance") ? ", or use --importance output-mse or --importance-from FILE" : ", or --no-eval"));
        }
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
                // the blocks this run replaces are the first of the ranking
                report.write(outDir, java.util.Set.copyOf(report.leastImportant(state.target())));
                for (ImportanceReport.Entry e : report.ranked()) order.add(e.block());
            }
        }
        state = state.withOrder(order);
        phaseSeconds.merge("importance", (System.nanoTime() - t0) / 1e9, Double::sum);
        fastflux.model.NativeHeap.trim("importance");
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
        World<?> world = baseModel.world("fd-align importance");
        return ImportanceScorer.byGeneration(world, ImportanceScorer.GenerationOptions.defaults(world),
                (done, block) -> listener.progress("importance", block.name(), done, n, "switched off and judged"), probeRunner);
    }

    /**
     * The importance probe of this job's metric for {@code blocks} alone, as {@link #order()} would measure them:
     * what another daemon of a fleet runs for the job's node ({@link ImportanceScorer.ProbeRunner}).
     */
    public double[][] measureBlocks(List<BlockId> blocks) {
        ImportanceScorer.BlockProbe probe = options.importance().equals(ImportanceScorer.OUTPUT_MSE)
                ? ImportanceScorer.outputMseProbe(calibration())
                : ImportanceScorer.generationProbe(baseModel.world("fd-align importance"),
                        ImportanceScorer.GenerationOptions.defaults(baseModel.world("fd-align importance")));
        return probe.measure(blocks, (done, block) -> {});
    }

    /** The calibration stream the least squares and the sandwiches are fitted on ({@link JobCalibration#fit}). */
    public Calibration calibration() {
        return calibrations().fit();
    }

    /** The stream the sandwiches train on: the fit stream, or the world's own disjoint training set ({@link JobCalibration#train}). */
    Calibration trainCalibration() {
        return calibrations().train();
    }

    /** The sandwich's held-out calibration, or null with a calibration file ({@link JobCalibration#heldOut}). */
    Calibration heldOutCalibration() {
        return calibrations().heldOut();
    }

    /** The report's output fidelity of {@code exported} against {@code base}, on this job's calibration (for tests). */
    OutputFidelity.Result outputFidelity(FluxModel exported, FluxModel base) {
        return calibrations().outputFidelity(exported, base);
    }

    /** The report's base and export around the job's weights ({@link ReportModels}), their own arrays in {@code m}. */
    ReportModels reportModels(NDManager m) {
        return ReportModels.open(flux, baseDir, outDir, this::loadTransformer, m);
    }

    private JobCalibration calibrations() {
        return new JobCalibration(flux, baseModel, calibFile, options);
    }

    /** Noise seeds of the held-out measurements (the sandwich's held-out pairs, the output fidelity); calibration's are 0, 1. */
    public static long[] heldOutNoiseSeeds() {
        return JobCalibration.HELD_OUT_NOISE_SEEDS.clone();
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
                    calibrationRunner, fitCheckpoints(block, k)).get(0);
            residuals = fitted.residuals();
            steps = fitted.steps();
            pendingOriginal = fitted.install(flux);
            flux.placeWeights(); // a split model: the fitted linears onto their block's device
        } else {
            String prefix = block.name() + ".";
            pendingOriginal = block.kind() == BlockId.Kind.DOUBLE
                    ? flux.setDouble(block.index(), new ShortcutDoubleBlock(prefix))
                    : flux.setSingle(block.index(), new ShortcutSingleBlock(prefix));
        }
        phaseSeconds.merge("collect+solve", (System.nanoTime() - t0) / 1e9, Double::sum);
        fastflux.model.NativeHeap.trim("collect+solve");
        state = state.withFitted(new PruneState.BlockResult(block, options.mode(), residuals, steps, null));
        checkpoint(block, k);
        FitCheckpoints.clear(fitCheckpointDir()); // the fit is in the state now
        return true;
    }

    private Path fitCheckpointDir() {
        return stateDir().resolve("lsq");
    }

    /**
     * The in-phase checkpoints of block {@code block}'s least-squares collection, the {@code k}-th replacement: a
     * checkpoint names the block, the blocks replaced before it and the calibration, so one of another collection
     * (or of this block over another model state) is never taken up.
     */
    private FitCheckpoints fitCheckpoints(BlockId block, int k) {
        List<String> before = state.order().subList(0, k).stream().map(BlockId::name).toList();
        return new FitCheckpoints(fitCheckpointDir(), options.lsqCheckpointEvery(),
                block.name() + " after " + before + " on " + calibration());
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
            String name = block.name();
            st = SandwichTrainer.observed((step, steps, loss, held) -> listener.sandwichStep(name, step, steps, loss, held),
                    () -> SandwichTrainer.train(flux, block, pendingOriginal, trainCalibration(), heldOutCalibration(), so, manager,
                            SandwichTrainer.FreeSpace.SYSTEM, calibrationRunner, sandwichFeed));
            listener.progress("sandwich", block.name(), k + 1, state.target(),
                    String.format(Locale.ROOT, "loss %.5f -> %.5f", st.initialLoss(), st.finalLoss())
                            + (Double.isNaN(st.heldOutInitialLoss()) ? "" : String.format(Locale.ROOT,
                                    " (held out %.5f -> %.5f)", st.heldOutInitialLoss(), st.heldOutFinalLoss())));
            phaseSeconds.merge("sandwich", (System.nanoTime() - t1) / 1e9, Double::sum);
            fastflux.model.NativeHeap.trim("sandwich");
            PruneMetrics.sandwichTrained(st.finalLoss(), st.heldOutFinalLoss());
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
        if (baseModel.hasWorld()) {
            baseModel.world("export").exportPruned(baseDir, outDir, exportChoices);
        } else {
            PrunedModels.export(flux, baseDir, outDir);
        }
        phaseSeconds.merge("export", (System.nanoTime() - t0) / 1e9, Double::sum);
        fastflux.model.NativeHeap.trim("export");
    }

    /** Quality of the model in memory on the report's prompt set, as its world judges it, and the images judged. */
    public World.Evaluation<?> evaluate(List<String> prompts, int seeds, String label) {
        long t0 = System.nanoTime();
        listener.progress("evaluate", label, 0, (long) prompts.size() * seeds, "");
        World.Evaluation<?> r = baseModel.world("evaluation").evaluate(prompts, seeds,
                (done, total) -> listener.progress("evaluate", label, done, total, "images"));
        phaseSeconds.merge("evaluate", (System.nanoTime() - t0) / 1e9, Double::sum);
        return r;
    }

    /** Forward FLOPs on the report's work, replaced blocks counted as their linears and deleted ones as nothing. */
    public long flops() {
        return SpeedMeasurement.of(baseModel, calibFile).flops(replacedSoFar());
    }

    private Map<String, Replacement.Mode> replacedSoFar() {
        Map<String, Replacement.Mode> replaced = new LinkedHashMap<>();
        for (Replacement r : PrunedModels.replacements(flux)) replaced.put(r.block().name(), r.mode());
        return replaced;
    }

    /** The report's quality comparison: the prompts both models generate, images per prompt, and their label. */
    public record Quality(List<String> prompts, int seeds, String label) {
        public Quality {
            if (prompts == null || prompts.isEmpty()) throw new IllegalArgumentException("no quality prompts");
            if (seeds < 1) throw new IllegalArgumentException("quality seeds must be positive, got " + seeds);
        }
    }

    /** The base model's side of the quality comparison, once measured. */
    private QualityComparison baseQuality;
    private long startNanos = System.nanoTime();

    /**
     * Whether the base model's quality is still to be measured on the model in memory: before the first block is
     * replaced (a run resumed later measures a fresh copy of the base in {@link #report}).
     */
    public boolean needsBaseQuality(Quality quality) {
        return quality != null && baseModel.hasWorld() && baseQuality == null && state.completed().isEmpty() && state.fitted() == null;
    }

    /** The base model's quality, measured on the model in memory before any block is replaced. */
    public void measureBaseQuality(Quality quality) {
        requireJudge("the report's quality comparison");
        if (!state.completed().isEmpty() || state.fitted() != null) {
            throw new IllegalStateException("the model in memory is no longer the base model");
        }
        baseQuality = new QualityComparison(evaluate(quality.prompts(), quality.seeds(), "base"));
    }

    /**
     * The whole run as the {@code prune} command does it: the phases of {@link JobPhase} in their order, then the
     * report. Resumes from the saved state if there is one.
     */
    public JsonObject runAll(List<String> qualityPrompts, int qualitySeeds, String promptsLabel) {
        Quality quality = qualityPrompts == null ? null : new Quality(qualityPrompts, qualitySeeds, promptsLabel);
        begin();
        JobPhase last = null;
        for (JobPhase p = position(null, quality).next(); p != null; p = position(last, quality).next()) {
            run(p, quality);
            last = p;
        }
        return report;
    }

    /** Where the job stands after {@code last} (null: as loaded), for {@link JobPhase.Position#next}. */
    public JobPhase.Position position(JobPhase last, Quality quality) {
        return new JobPhase.Position(last, state.order() != null, state.completed().size(), state.fitted() != null,
                state.target(), needsBaseQuality(quality));
    }

    private JsonObject report;

    /** Runs one phase of {@link JobPhase}. */
    public void run(JobPhase phase, Quality quality) {
        switch (phase) {
            case BASE_QUALITY -> measureBaseQuality(quality);
            case IMPORTANCE -> order();
            case FIT -> fitNext();
            case SANDWICH -> trainFitted();
            case EXPORT -> export();
            case REPORT -> report = report(quality);
        }
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
        if (quality != null && !baseModel.hasWorld()) {
            report.addProperty("quality_not_measured", "a FLUX.1 transformer checkpoint: no text encoder or VAE here to "
                    + "generate and judge images (the output fidelity below compares the transformers alone)");
        } else if (quality != null) {
            if (baseQuality == null) {
                // A resumed run: measure the base model on a fresh copy.
                requireJudge("the report's quality comparison");
                try (NDManager m = manager.newSubManager()) {
                    baseQuality = new QualityComparison(Worlds.open(baseDir, m, withOut(worldSettings, outDir)).evaluate(quality.prompts(), quality.seeds(), null));
                }
            }
            World.Evaluation<?> pruned = evaluate(quality.prompts(), quality.seeds(), "pruned");
            report.add("quality", baseQuality.against(baseModel.world("fidelity"), quality, pruned));
        }
        // Both models timed here, interleaved on the same work, so the ratio compares like with like.
        listener.progress("speed", "", 0, 2, "latency of the pruned and base models");
        SpeedMeasurement speed = SpeedMeasurement.of(baseModel, calibFile);
        fastflux.model.ForwardTimer.Timing timing;
        OutputFidelity.Result fidelity;
        try (NDManager m = manager.newSubManager()) {
            // the exported model as a user loads it (adapters merged), not the job's model with LoRA still attached,
            // and the base, around one copy of the weights they share: the job's (ReportModels; docs/plan.md)
            ReportModels models = reportModels(m);
            FluxModel exported = models.pruned();
            FluxModel base = models.base();
            timing = speed.latency(exported, base, 21, manager);
            long t0 = System.nanoTime();
            listener.progress("fidelity", "", 0, 1, "the exported model's outputs against the base model's");
            fidelity = calibrations().outputFidelity(exported, base);
            listener.progress("fidelity", "", 1, 1, String.format(java.util.Locale.ROOT, "step %.4f, latent %.4f",
                    fidelity.stepError(), fidelity.latentError()));
            phaseSeconds.merge("fidelity", (System.nanoTime() - t0) / 1e9, Double::sum);
        }
        report.add("output_fidelity", fidelity.toJson());
        listener.progress("speed", "", 2, 2, String.format(java.util.Locale.ROOT, "%.1f ms pruned, %.1f ms base",
                timing.medianMs(0), timing.medianMs(1)));
        report.add("speed", speed.json(timing, speed.flops(Map.of()), speed.flops(replacedSoFar())));
        phaseSeconds.put("total", (System.nanoTime() - startNanos) / 1e9);
        JsonObject secs = new JsonObject();
        phaseSeconds.forEach(secs::addProperty);
        report.add("seconds", secs);
        PruneReport.write(outDir, report);
        if (baseModel.hasWorld()) baseModel.world("model card").describeExport(outDir, report);
        return report;
    }

    /**
     * A model directory's transformer in the job's dtype, as its world loads it (the base's layout, or the export's),
     * only the parameters {@code only} accepts read.
     */
    private FluxModel loadTransformer(Path dir, NDManager m, java.util.function.Predicate<String> only) {
        return baseModel.hasWorld() ? baseModel.world("report").loadTransformer(dir, m, flux.dtype(), only)
                : ModelDir.load(dir, m, flux.dtype(), java.util.Set.of(), only);
    }

    /** Writes the state: the JSON manifest plus every trained component (replaced linears, LoRA adapters). */
    void save() {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        components().forEach((name, p) -> tensors.put(name, p.value()));
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
                        + String.format("%04d", target) + ".json; a run without stage files has only its final "
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
        flux.placeWeights();
        state = PruneState.fresh(savedOptions(), target).withOrder(other.order());
        for (PruneState.BlockResult r : first) state = state.withCompleted(r);
        save();
        return state;
    }

    /**
     * Rebuilds the model of saved state {@code saved}: replacements in order, then every saved component. If the
     * components do not fit (one has no place in the model, one is missing or mis-shaped), the model is put back as
     * it was and the error thrown, so that the previous checkpoint can be tried on it.
     */
    private void restore(PruneState saved) {
        if (!PruneOptions.differences(saved.options(), savedOptions()).isEmpty()) throw new IllegalArgumentException("saved with other options");
        List<Module> takenOut = new ArrayList<>();
        List<BlockId> adapted = new ArrayList<>();
        Module pendingBefore = pendingOriginal;
        try {
            restoreComponents(saved, takenOut, adapted);
        } catch (RuntimeException e) {
            // undo: the originals back into their slots (closing what replaced them), then the adapters made here
            for (Module original : takenOut) {
                BlockId id = BlockId.parse(original.prefix().substring(0, original.prefix().length() - 1), flux.config());
                closeTree(id.kind() == BlockId.Kind.DOUBLE ? (Module) flux.setDouble(id.index(), (DoubleStreamLayer) original)
                        : (Module) flux.setSingle(id.index(), (SingleStreamLayer) original));
            }
            for (BlockId id : adapted) LoraInjector.remove(flux, id);
            pendingOriginal = pendingBefore;
            throw e;
        }
        for (Module original : takenOut) if (original != pendingOriginal) closeTree(original);
    }

    /** The replacements and components of {@code saved}, recording each original taken out and each block adapted. */
    private void restoreComponents(PruneState saved, List<Module> takenOut, List<BlockId> adapted) {
        List<Replacement> done = new ArrayList<>();
        for (PruneState.BlockResult r : saved.completed()) done.add(new Replacement(r.block(), r.mode()));
        takenOut.addAll(PrunedModels.apply(flux, done));
        PruneState.BlockResult fitted = saved.fitted();
        try (SafetensorsReader reader = SafetensorsReader.open(saved.componentsFile(stateDir()))) {
            // adapters first, while a fitted block's original still holds its slot (it may carry one of its own)
            java.util.Set<BlockId> replacedNow = new java.util.HashSet<>();
            for (Replacement r : PrunedModels.replacements(flux)) replacedNow.add(r.block());
            for (String name : reader.names()) {
                if (name.contains(".lora_")) {
                    BlockId id = BlockId.parse(name.substring(0, name.indexOf('.', name.indexOf('.') + 1)), flux.config());
                    if (replacedNow.contains(id) || adapted.contains(id)) continue; // replaced: restored by an earlier begin()
                    if (LoraInjector.trainableParams(flux, id).isEmpty()) adapted.add(id);
                    lora.inject(flux, id, manager);
                }
            }
            if (fitted != null) { // fitted before the stop: its linear comes from the components, its original stays for the sandwich
                List<Module> replaced = PrunedModels.apply(flux, List.of(new Replacement(fitted.block(), fitted.mode())));
                if (!replaced.isEmpty()) pendingOriginal = replaced.get(0); // empty: restored already by an earlier begin()
                takenOut.addAll(replaced);
            }
            Map<String, Param> components = components();
            for (String name : reader.names()) {
                Param p = components.get(name);
                if (p == null) throw new IllegalStateException(stateDir() + ": saved component " + name + " has no place in the model");
                // the component as the model holds it: a replaced block's linear in the compute dtype, adapters in fp32
                NDArray value = reader.load(name, manager, p.hasValue() ? p.value().getDataType() : DataType.FLOAT32);
                try {
                    p.set(value);
                } catch (RuntimeException e) {
                    value.close();
                    throw e;
                }
            }
            List<String> missing = new ArrayList<>(components.keySet());
            missing.removeAll(reader.names());
            if (!missing.isEmpty()) throw new IllegalStateException(stateDir() + ": the saved components lack " + missing);
        }
        flux.placeWeights();
    }

    /**
     * The trained components, by name, as a checkpoint holds them: the replaced blocks' layers, every adapter, and
     * the adapters of the pending block's original (an earlier sandwich's, recorded with it).
     */
    private Map<String, Param> components() {
        Map<String, Param> out = new LinkedHashMap<>();
        for (Replacement r : PrunedModels.replacements(flux)) {
            var layer = r.block().kind() == BlockId.Kind.DOUBLE ? flux.doubleBlocks().get(r.block().index())
                    : flux.singleBlocks().get(r.block().index());
            for (Param p : ((Module) layer).params().values()) out.put(p.name(), p);
        }
        for (Param p : LoraInjector.trainableParams(flux).values()) {
            if (p.name().contains(".lora_")) out.put(p.name(), p);
        }
        if (pendingOriginal != null) out.putAll(LoraInjector.adapterParams(pendingOriginal));
        return out;
    }
}
