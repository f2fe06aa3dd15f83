package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.BlockId;
import fastflux.model.BlockTap;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.Linear;
import fastflux.model.Module;
import fastflux.model.ReplacedDoubleBlock;
import fastflux.model.ReplacedSingleBlock;
import fastflux.model.Streams;
import fastflux.model.Tensors;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * BRLL initialisation (paper §3.1, Eq. 1): taps each selected block's input X and output Y on the calibration
 * stream, F = Y − X, and fits the per-token affine map g with F ≈ g(X) by streamed least squares. A
 * double-stream block gets one fit per stream ({@code img}, {@code txt}); a single-stream block one fit over
 * the joint sequence ({@code joint}). Every {@code holdoutEvery}-th batch is held out of the fit and measures
 * the relative residual ‖F − g(X)‖ / ‖F‖ afterwards ({@link ResidualMeter}).
 *
 * <p>As a {@link CalibrationConsumer} it only accumulates (and {@link #merge}s with a fitter of other
 * prompts); {@link #fit} runs the whole procedure.
 */
public final class BlockFitter implements CalibrationConsumer, AutoCloseable {
    public static final String IMG = "img";
    public static final String TXT = "txt";
    public static final String JOINT = "joint";

    /**
     * @param ridge relative ridge λ of {@link LeastSquaresFit#solve}
     * @param holdoutEvery every n-th batch (n−1, 2n−1, …) is held out for the residual; 0 holds out nothing
     */
    public record Options(double ridge, int holdoutEvery, PartialPrecision precision) {
        public Options {
            if (!(ridge >= 0)) throw new IllegalArgumentException("ridge must be >= 0, got " + ridge);
            if (holdoutEvery < 0 || holdoutEvery == 1) {
                throw new IllegalArgumentException("holdoutEvery must be 0 (none) or >= 2, got " + holdoutEvery);
            }
        }

        public static Options defaults() {
            return new Options(LeastSquaresFit.DEFAULT_RIDGE, 4, PartialPrecision.AUTO);
        }

        /**
         * These options for a calibration of {@code batches} batches: when there are fewer than
         * {@code holdoutEvery} but at least two, the last batch is held out, so that a small calibration (a short
         * precomputed file) still measures its residuals; a single batch holds nothing out.
         */
        public Options forBatches(int batches) {
            return holdoutEvery > 0 && batches >= 2 && batches < holdoutEvery
                    ? new Options(ridge, batches, precision) : this;
        }
    }

    /**
     * A fitted block: its replacement layer (not yet installed), the map of each stream, and each stream's
     * held-out relative residual (NaN when nothing was held out), overall and per sampler step ({@code steps},
     * empty when nothing was held out): where along the trajectory the per-token linear map fits the branch.
     */
    public record FittedBlock(BlockId block, Module replacement, Map<String, AffineMap> maps,
                                                        Map<String, Double> residuals, Map<String, StepProfile> steps) {
        /** Puts the replacement in the block's slot; returns the layer it replaced (the caller owns it). */
        public Module install(FluxModel model) {
            return block.kind() == BlockId.Kind.DOUBLE
                    ? model.setDouble(block.index(), (ReplacedDoubleBlock) replacement)
                    : model.setSingle(block.index(), (ReplacedSingleBlock) replacement);
        }
    }

    /**
     * One stream of a fitted block, per sampler step (0: the noisiest), on the held-out batches: the relative
     * residual of the map, and the branch's energy ‖F‖² per token, which says how much each step's residual weighs
     * in the overall one.
     */
    public record StepProfile(double[] residual, double[] energy) {}

    private final FluxParams params;
    private final Options options;
    private final Map<BlockId, Map<String, LeastSquaresFit>> fits = new LinkedHashMap<>();
    private FitCheckpoints checkpoints = FitCheckpoints.NONE;
    /** Batches folded (those of a resumed checkpoint included), and the index of the last one. */
    private int folded;
    private int lastBatch = -1;
    /** The last batch a resumed checkpoint holds (-1: none); {@link #wants} skips it and every batch before. */
    private int resumedThrough = -1;
    private int checkpointNumber;

    public BlockFitter(FluxParams params, Collection<BlockId> blocks, Options options) {
        this.params = params;
        this.options = options;
        int h = params.hiddenSize();
        for (BlockId id : new TreeSet<>(blocks)) {
            BlockId.parse(id.name(), params); // range check with a clear message
            Map<String, LeastSquaresFit> m = new LinkedHashMap<>();
            for (String s : streams(id)) {
                m.put(s, new LeastSquaresFit(id.name() + "/" + s, h, h, options.precision()));
            }
            fits.put(id, m);
        }
        if (fits.isEmpty()) throw new IllegalArgumentException("no blocks to fit");
    }

    static List<String> streams(BlockId id) {
        return id.kind() == BlockId.Kind.DOUBLE ? List.of(IMG, TXT) : List.of(JOINT);
    }

    public Collection<BlockId> blocks() {
        return fits.keySet();
    }

    /** The accumulator of one block's stream ({@link #IMG}, {@link #TXT} or {@link #JOINT}). */
    public LeastSquaresFit fit(BlockId block, String stream) {
        LeastSquaresFit f = fits.getOrDefault(block, Map.of()).get(stream);
        if (f == null) throw new IllegalArgumentException("no fit for " + block + "/" + stream);
        return f;
    }

    boolean heldOut(int batchIndex) {
        return options.holdoutEvery() > 0 && batchIndex % options.holdoutEvery() == options.holdoutEvery() - 1;
    }

    @Override
    public boolean wants(int batchIndex) {
        return !heldOut(batchIndex) && batchIndex > resumedThrough;
    }

    /**
     * Saves the accumulators every {@code c.every()} folded batches from now on, after taking up the newest checkpoint
     * of the same collection in {@code c.dir()} if there is one: its sums, and the batches it folded, which
     * {@link #wants} then skips. Returns the number of batches taken up (0: none).
     */
    public int checkpointTo(FitCheckpoints c) {
        checkpoints = c;
        FitCheckpoints.Saved saved = c.readNewest();
        if (saved == null) {
            if (c.enabled()) FitCheckpoints.clear(c.dir()); // another collection's, left by a kill before its solve
            return 0;
        }
        List<LeastSquaresFit> all = allFits();
        if (!saved.fits().keySet().equals(new java.util.LinkedHashSet<>(all.stream().map(LeastSquaresFit::blockName).toList()))) {
            throw new IllegalStateException(c.dir() + ": checkpoint " + saved.number() + " holds fits " + saved.fits().keySet()
                    + ", this collection " + all.stream().map(LeastSquaresFit::blockName).toList());
        }
        for (LeastSquaresFit f : all) f.load(saved.fits().get(f.blockName()));
        folded = saved.batches();
        lastBatch = saved.lastBatch();
        resumedThrough = lastBatch;
        checkpointNumber = saved.number();
        return folded;
    }

    /** Batches folded so far (a resumed checkpoint's included). */
    public int batchesFolded() {
        return folded;
    }

    @Override
    public void endBatch(Calibration.Batch batch) {
        folded++;
        lastBatch = batch.index();
        if (checkpoints.enabled() && folded % checkpoints.every() == 0) {
            checkpoints.write(++checkpointNumber, folded, lastBatch, allFits());
        }
    }

    private List<LeastSquaresFit> allFits() {
        List<LeastSquaresFit> out = new ArrayList<>();
        fits.values().forEach(m -> out.addAll(m.values()));
        return out;
    }

    @Override
    public BlockTap tap(Calibration.Step step) {
        return residualTap(fits, LeastSquaresFit::accumulate);
    }

    /** Folds one stream's (X, F) into a sink: a least-squares accumulator or a residual meter. */
    @FunctionalInterface
    interface Accumulate<S> {
        void apply(S sink, NDArray x, NDArray f);
    }

    /**
     * A tap that hands each selected block's input X and residual branch F = Y − X to its sinks, per stream:
     * {@link #IMG} and {@link #TXT} for a double-stream block, {@link #JOINT} for a single-stream one.
     */
    static <S> BlockTap residualTap(Map<BlockId, Map<String, S>> sinks, Accumulate<S> accumulate) {
        return new BlockTap() {
            @Override
            public void doubleBlock(int index, Streams in, Streams out) {
                Map<String, S> m = sinks.get(BlockId.ofDouble(index));
                if (m != null) {
                    accumulate.apply(m.get(IMG), in.img(), out.img().sub(in.img()));
                    accumulate.apply(m.get(TXT), in.txt(), out.txt().sub(in.txt()));
                }
            }

            @Override
            public void singleBlock(int index, NDArray in, NDArray out) {
                Map<String, S> m = sinks.get(BlockId.ofSingle(index));
                if (m != null) accumulate.apply(m.get(JOINT), in, out.sub(in));
            }
        };
    }

    /** Adds another fitter's accumulators (same blocks, e.g. the other half of the prompts) into this one. */
    public void merge(BlockFitter other) {
        if (!other.fits.keySet().equals(fits.keySet())) {
            throw new IllegalArgumentException("cannot merge fitters of blocks " + other.fits.keySet() + " into " + fits.keySet());
        }
        fits.forEach((id, m) -> m.forEach((s, f) -> f.merge(other.fits.get(id).get(s))));
    }

    /**
     * Solves every fit with the options' ridge and builds the replacement layers, their parameters created in
     * {@code m} in the model's dtype. Residuals are NaN here; {@link #fit} measures them.
     *
     * @throws NotPositiveDefiniteException naming the block and stream when a normal matrix has no Cholesky
     *     factor (too few tokens or too small a ridge)
     */
    public List<FittedBlock> solve(NDManager m, DataType dtype) {
        List<FittedBlock> out = new ArrayList<>();
        int h = params.hiddenSize();
        for (var e : fits.entrySet()) {
            BlockId id = e.getKey();
            Map<String, AffineMap> maps = new LinkedHashMap<>();
            Map<String, Double> res = new LinkedHashMap<>();
            for (var s : e.getValue().entrySet()) {
                maps.put(s.getKey(), s.getValue().solve(options.ridge()));
                res.put(s.getKey(), Double.NaN);
            }
            Module layer;
            String prefix = id.name() + ".";
            if (id.kind() == BlockId.Kind.DOUBLE) {
                ReplacedDoubleBlock d = new ReplacedDoubleBlock(prefix, h);
                setLinear(d.imgLinear(), maps.get(IMG), m, dtype);
                setLinear(d.txtLinear(), maps.get(TXT), m, dtype);
                layer = d;
            } else {
                ReplacedSingleBlock r = new ReplacedSingleBlock(prefix, h);
                setLinear(r.linear(), maps.get(JOINT), m, dtype);
                layer = r;
            }
            out.add(new FittedBlock(id, layer, maps, res, Map.of()));
        }
        return out;
    }

    /** Sets a Linear's weight [out, in] and bias [out] from a fitted map. */
    public static void setLinear(Linear l, AffineMap g, NDManager m, DataType dtype) {
        NDArray w = Tensors.create(m, g.weight(), new Shape(g.outDim(), g.inDim()));
        NDArray b = Tensors.create(m, g.bias(), new Shape(g.outDim()));
        l.weight().set(dtype == DataType.FLOAT32 ? w : w.toType(dtype, false));
        l.bias().set(dtype == DataType.FLOAT32 ? b : b.toType(dtype, false));
    }

    /**
     * The whole BRLL initialisation: one calibration pass over the non-held-out batches accumulates every
     * selected block's fits, they are solved, and a second pass over the held-out batches only measures each
     * map's relative residual (held-out batches as {@link Options#forBatches} chooses them). The model is not changed; install the results with {@link FittedBlock#install}.
     */
    public static List<FittedBlock> fit(Calibration calibration, Collection<BlockId> blocks, Options options,
                                                                            NDManager paramManager) {
        return fit(calibration, blocks, options, paramManager, CalibrationRunner.IN_PROCESS);
    }

    /** {@link #fit(Calibration, Collection, Options, NDManager)} with both passes run by {@code runner}. */
    public static List<FittedBlock> fit(Calibration calibration, Collection<BlockId> blocks, Options options,
                                                                            NDManager paramManager, CalibrationRunner runner) {
        return fit(calibration, blocks, options, paramManager, runner, FitCheckpoints.NONE);
    }

    /**
     * As above, the accumulation pass checkpointed to {@code checkpoints} ({@link #checkpointTo}): a collection killed
     * midway resumes from its last checkpoint and fits the same maps, bit for bit.
     */
    public static List<FittedBlock> fit(Calibration calibration, Collection<BlockId> blocks, Options options,
                                        NDManager paramManager, CalibrationRunner runner, FitCheckpoints checkpoints) {
        FluxModel model = calibration.model();
        options = options.forBatches(calibration.batches(0, calibration.source().size()));
        List<FittedBlock> fitted;
        try (BlockFitter fitter = new BlockFitter(model.config(), blocks, options)) {
            fitter.checkpointTo(checkpoints);
            runner.run(calibration, fitter, fitter.blocks());
            fitted = fitter.solve(paramManager, model.dtype());
        }
        if (options.holdoutEvery() == 0) {
            return fitted;
        }
        // One meter per block, stream and sampler step (index: the step); the overall residual adds the steps' sums.
        List<Map<BlockId, Map<String, ResidualMeter>>> perStep = new ArrayList<>();
        int every = options.holdoutEvery();
        runner.run(calibration, new CalibrationConsumer() {
            @Override
            public boolean wants(int batchIndex) {
                return batchIndex % every == every - 1;
            }

            @Override
            public BlockTap tap(Calibration.Step step) {
                while (perStep.size() <= step.step()) {
                    Map<BlockId, Map<String, ResidualMeter>> m = new LinkedHashMap<>();
                    for (FittedBlock f : fitted) {
                        Map<String, ResidualMeter> s = new LinkedHashMap<>();
                        f.maps().forEach((stream, g) -> s.put(stream, new ResidualMeter(g)));
                        m.put(f.block(), s);
                    }
                    perStep.add(m);
                }
                return residualTap(perStep.get(step.step()), ResidualMeter::accumulate);
            }
        }, fitted.stream().map(FittedBlock::block).toList());
        List<FittedBlock> out = new ArrayList<>();
        for (FittedBlock f : fitted) {
            Map<String, Double> res = new LinkedHashMap<>();
            Map<String, StepProfile> steps = new LinkedHashMap<>();
            for (String s : f.maps().keySet()) {
                List<ResidualMeter> parts = perStep.stream().map(m -> m.get(f.block()).get(s)).toList();
                res.put(s, ResidualMeter.relativeResidual(parts));
                if (parts.isEmpty()) continue; // nothing held out
                steps.put(s, new StepProfile(parts.stream().mapToDouble(ResidualMeter::relativeResidual).toArray(),
                        parts.stream().mapToDouble(ResidualMeter::branchEnergy).toArray()));
            }
            out.add(new FittedBlock(f.block(), f.replacement(), f.maps(), res, steps));
        }
        return out;
    }

    @Override
    public void close() {
        fits.values().forEach(m -> m.values().forEach(LeastSquaresFit::close));
    }
}
