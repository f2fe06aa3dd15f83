package fastflux.pruning.plan;

import ai.djl.ndarray.types.DataType;
import fastflux.model.Attention;
import fastflux.model.DoubleStreamBlock;
import fastflux.model.FlopCount;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.Linear;
import fastflux.model.Module;
import fastflux.model.Param;
import fastflux.model.SingleStreamBlock;
import fastflux.pruning.PruneJob;
import fastflux.pruning.PruneOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A pruning job's needs, worked out from the model's params and the job's options before any work: each device's
 * memory in each phase (weights, activations at the batch size, least-squares accumulators, training state, sandwich
 * pair buffer, calibration taps), the disk it writes, and its FLOPs (a time once a measured rate is given). A job
 * that cannot fit is refused naming the phase and the device ({@link #requireFits}). The formulas and how they
 * compare with measured runs: docs/plan.md.
 *
 * <p>Placement as the job does it: the weights once, in the compute dtype, each block on the device that owns its
 * range ({@link fastflux.model.BlockPlacement}: contiguous ranges balanced by bytes, the embedders on the first
 * device, the final layer on the last). Any device may run a phase's work on its blocks (a calibration batch, a
 * sandwich, the report's blocks), so each device is planned for the whole of that work beside its own weights: an
 * upper bound where the work lands on one device at a time. With CUDA devices the host (the CPU) holds
 * what lives in Java and ND4J: the float64 least-squares sums, the sandwich pairs' direct buffers and the
 * calibration taps on the Java heap.
 */
public final class JobPlan {
    /** Items per calibration batch ({@code Calibration.Options.defaults()}). */
    public static final int CALIBRATION_BATCH = 8;
    /** Noise seeds per calibration prompt. */
    public static final int CALIBRATION_SEEDS = 2;
    /** Forwards the report times, each model, with the timer's 3 warm-up rounds ({@code PruneJob.report}). */
    public static final int SPEED_FORWARDS = 24;
    /** Rows of the report's timed forward on a FLUX.1 world (one image, both guidance halves: {@code SpeedMeasurement}). */
    public static final int SPEED_ROWS = 2;
    /**
     * Free memory glibc keeps for reuse rather than returning it to the system: the launcher sets
     * {@code MALLOC_TRIM_THRESHOLD_} and {@code MALLOC_MMAP_THRESHOLD_} to 1 GiB so that a forward reuses warm pages
     * (docs/stack-notes.md); what is kept is at most that at the top of the heap, and a real-width run measured 793 MiB
     * given back by a trim in its importance phase (docs/plan.md, "A real-width pruning run").
     */
    public static final long MALLOC_RETAINED = 800L << 20;
    /**
     * The Java heap as the serial collector leaves it committed after loading a checkpoint: the weights pass through
     * it one tensor at a time (bf16 bytes and their fp32 values), and the heap grows to about three of the largest
     * tensor in fp32 (749 MiB committed at FLUX.1's width, whose largest tensor, a single block's linear1, is 252 MiB).
     */
    static final int HEAP_TENSORS = 3;
    /**
     * What the runtime holds whatever the model: the JVM and its 64 MB heap, libtorch's and ND4J's code and thread
     * pools on the host; a CUDA context and libtorch's kernels on a GPU.
     */
    public static final long HOST_RUNTIME = 600L << 20, GPU_RUNTIME = 700L << 20;

    /** The job's phases as the plan counts them ({@code JobPhase}; collect and solve are one, "fit"). */
    public enum Phase {
        IMPORTANCE, FIT, SANDWICH, EXPORT, REPORT;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * What the plan is made from.
     *
     * @param params the transformer's architecture (from its config or its weights' header)
     * @param options the method's options
     * @param devices where the blocks run
     * @param dtype the compute dtype (FLOAT32 or FLOAT16)
     * @param imageTokens latent tokens per image (4096 for 1024² FLUX.1)
     * @param textTokens text tokens (T5's sequence length)
     * @param calibrationPrompts prompts calibrated on (the option, or a calibration file's rows)
     * @param heldOutPrompts the sandwich's held-out prompts (0 with a calibration file)
     * @param exportBytesPerParam bytes per weight of the export (the checkpoint's dtype)
     * @param pipelineInFlight calibration batches in flight in the streams pipeline (parallelism + buffer + the one
     *     being folded), 0 for the in-process loop
     * @param embeddingCache whether prompts are encoded here and their embeddings cached on disk
     */
    public record Inputs(FluxParams params, PruneOptions options, Devices devices, DataType dtype, int imageTokens,
                         int textTokens, int calibrationPrompts, int heldOutPrompts, int exportBytesPerParam,
                         int pipelineInFlight, boolean embeddingCache) {
        public Inputs {
            if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT16) {
                throw new IllegalArgumentException("compute dtype must be fp32 or fp16, got " + dtype);
            }
            if (imageTokens < 1 || textTokens < 1) throw new IllegalArgumentException("token counts must be positive");
        }

        public Inputs withOptions(PruneOptions o) {
            return new Inputs(params, o, devices, dtype, imageTokens, textTokens, calibrationPrompts, heldOutPrompts,
                    exportBytesPerParam, pipelineInFlight, embeddingCache);
        }

        public Inputs withDevices(Devices d, DataType dt) {
            return new Inputs(params, options, d, dt, imageTokens, textTokens, calibrationPrompts, heldOutPrompts,
                    exportBytesPerParam, pipelineInFlight, embeddingCache);
        }
    }

    /** One line of a device's memory. */
    public record Item(String what, long bytes) {}

    /** A device's memory in one phase, against its capacity. */
    public record Use(String device, Phase phase, List<Item> items, long capacity, String capacitySource) {
        public long total() {
            return items.stream().mapToLong(Item::bytes).sum();
        }

        public boolean fits() {
            return total() <= capacity;
        }
    }

    private final Inputs in;
    private final List<Use> uses = new ArrayList<>();
    private final Map<String, Long> disk = new LinkedHashMap<>();
    private final Map<Phase, Long> flops = new LinkedHashMap<>();
    private final long javaHeap;
    private final List<DeviceMemory.Capacity> caps;
    private long taps;

    /**
     * The plan of {@code in} on devices of the given capacities ({@code capacities.get(i)} for device i, then the
     * host's when the devices are GPUs); {@code javaHeap} is the JVM's maximum heap, which holds the calibration taps.
     */
    public static JobPlan of(Inputs in, List<DeviceMemory.Capacity> capacities, long javaHeap) {
        int need = in.devices().size() + (in.devices().gpu() ? 1 : 0);
        if (capacities.size() != need) throw new IllegalArgumentException("need " + need + " capacities, got " + capacities.size());
        return new JobPlan(in, capacities, javaHeap);
    }

    private JobPlan(Inputs in, List<DeviceMemory.Capacity> caps, long javaHeap) {
        this.in = in;
        this.caps = caps;
        this.javaHeap = javaHeap;
        FluxParams p = in.params();
        FluxModel shapes = new FluxModel(p); // parameters' shapes only: nothing is allocated
        Devices devs = in.devices();
        int n = p.blockCount();
        long b = bytes(in.dtype());
        boolean gpu = devs.gpu();

        long calibRows = (long) CALIBRATION_BATCH * (p.guidanceEmbed() ? 1 : 2);
        long act = activations(calibRows);
        int[][] ranges = ranges(shapes, devs.size(), b);
        int lastWithBlocks = Math.min(devs.size(), n) - 1;
        long[] weights = new long[devs.size()];
        for (int i = 0; i < devs.size(); i++) weights[i] = weightParams(shapes, ranges[i], i == 0, i == lastWithBlocks) * b;

        // host-side pieces
        long lsHost = leastSquaresHost(p);
        long lsDevice = leastSquaresDevice(p, calibRows);
        taps = in.pipelineInFlight() * (long) in.options().calibSteps() * 2L * CALIBRATION_BATCH
                * (in.imageTokens() + in.textTokens()) * p.hiddenSize() * 4;
        long pairBytes = pairBytes();
        long trainPairs = (long) in.calibrationPrompts() * CALIBRATION_SEEDS * in.options().calibSteps() * pairBytes;
        long heldPairs = (long) in.heldOutPrompts() * CALIBRATION_SEEDS * in.options().calibSteps() * pairBytes;
        long buffer = in.options().bufferBytes();
        // the streaming trainer holds its first pass's window beside the buffer of kept pairs (StreamingSandwich)
        long window = pairBytes == 0 ? 0 : Math.min(in.options().windowBytes() / pairBytes, Long.MAX_VALUE / pairBytes) * pairBytes;
        long pairsInMemory = Math.min(buffer > Long.MAX_VALUE - window ? Long.MAX_VALUE : buffer + window, trainPairs)
                + Math.min(buffer, heldPairs);
        boolean training = in.options().sandwichTraining() && in.options().stSteps() > 0
                && in.options().mode() == fastflux.model.Replacement.Mode.LINEAR;
        long trainState = training ? trainableParams(shapes) * 16L : 0; // fp32 value, gradient, AdamW's two moments
        long trainAct = training ? trainingActivations(pairsPerPass()) : 0;
        long javaHeapUse = Math.min(javaHeap, HEAP_TENSORS * largestTensor(shapes) * 4);

        for (Phase ph : Phase.values()) {
            for (int i = 0; i < devs.size(); i++) {
                List<Item> items = new ArrayList<>();
                // every device with blocks runs its part of each phase's work; one without blocks holds nothing
                boolean hasBlocks = ranges[i][0] <= ranges[i][1];
                String dt = ComputeDtype.name(in.dtype());
                items.add(new Item("weights (" + dt + ", " + (devs.size() == 1 ? "the job's model, " : "")
                        + "blocks " + rangeText(ranges[i]) + ")", weights[i]));
                switch (ph) {
                    case IMPORTANCE -> items.add(new Item("activations (batch " + calibRows + " rows)", hasBlocks ? act : 0));
                    case FIT -> {
                        items.add(new Item("activations (batch " + calibRows + " rows)", hasBlocks ? act : 0));
                        items.add(new Item("least-squares partial sums", hasBlocks ? lsDevice : 0));
                    }
                    case SANDWICH -> {
                        items.add(new Item("activations (recording, batch " + calibRows + " rows)", hasBlocks ? act : 0));
                        items.add(new Item("training activations (" + pairsText() + ")", hasBlocks ? trainAct : 0));
                        items.add(new Item("training state (fp32 values, gradients, AdamW)", hasBlocks ? trainState : 0));
                    }
                    case EXPORT -> items.add(new Item("largest tensor, merged", hasBlocks ? largestTensor(shapes) * 4 : 0));
                    case REPORT -> {
                        if (hasBlocks) {
                            // the report shares the job's weights and reads only the blocks base and export differ in
                            // (ReportModels): the replaced blocks' originals, their linears, the adapted neighbours merged
                            items.add(new Item("base's replaced and export's changed blocks, read", reportReadParams(shapes) * b));
                            items.add(new Item("activations (batch " + calibRows + " rows)", act));
                        }
                    }
                }
                if (!gpu) {
                    addHost(items, ph, lsHost, pairsInMemory);
                    addHostRuntime(items, ph, javaHeapUse);
                } else {
                    items.add(new Item("runtime", GPU_RUNTIME));
                }
                DeviceMemory.Capacity c = caps.get(i);
                uses.add(new Use(devs.name(i), ph, items, c.bytes(), c.source()));
            }
            if (gpu) {
                List<Item> items = new ArrayList<>();
                addHost(items, ph, lsHost, pairsInMemory);
                addHostRuntime(items, ph, javaHeapUse);
                DeviceMemory.Capacity c = caps.get(devs.size());
                uses.add(new Use("cpu (host)", ph, items, c.bytes(), c.source()));
            }
        }

        // disk
        disk.put("embedding cache", in.embeddingCache()
                ? (long) (in.calibrationPrompts() + in.heldOutPrompts()) * ((long) in.textTokens() * p.contextInDim() + p.vecInDim()) * 2 : 0);
        // the training pairs' spill is bounded by spill-bytes (whole pairs); the held-out pairs' is not
        long spillBound = pairBytes == 0 ? 0 : in.options().spillBytes() / pairBytes * pairBytes;
        disk.put("sandwich pair spill (largest block)", training
                ? Math.min(Math.max(0, trainPairs - buffer), spillBound) + Math.max(0, heldPairs - buffer) : 0);
        int target = PruneJob.blocksFor(in.options().ratio(), p);
        long perBlock = trainableParams(shapes) * 4; // a block's components in fp32
        // each completed block keeps a stage (its components so far) and the newest state: sum over k of k blocks' components
        disk.put("checkpoints (state/, stages kept)", perBlock * ((long) target * (target + 1) / 2 + target));
        disk.put("export", exportParams(shapes) * in.exportBytesPerParam());

        // FLOPs: every calibration pass is prompts x seeds x steps transformer calls (two rows each under CFG)
        long f = FlopCount.forward(p, 1, in.imageTokens(), in.textTokens());
        long rowsPerCall = p.guidanceEmbed() ? 1 : 2;
        long pass = (long) in.calibrationPrompts() * CALIBRATION_SEEDS * in.options().calibSteps() * rowsPerCall * f;
        long heldPass = (long) in.heldOutPrompts() * CALIBRATION_SEEDS * in.options().calibSteps() * rowsPerCall * f;
        boolean scored = in.options().order() == PruneOptions.Order.IMPORTANCE && in.options().importanceFrom() == null;
        // output-mse: the calibration's own forward, the unmodified one run block by block, and per block the blocks
        // after it from its input (ImportanceScorer.outputMseProbe)
        flops.put(Phase.IMPORTANCE, scored ? (long) (pass * (2 + suffixShare(p))) : 0);
        flops.put(Phase.FIT, in.options().mode() == fastflux.model.Replacement.Mode.LINEAR ? target * pass : 0);
        long block = Math.max(FlopCount.doubleBlock(p, 1, in.imageTokens(), in.textTokens()),
                FlopCount.singleBlock(p, 1, in.imageTokens() + in.textTokens())) * 2;
        // forward and backward of the sandwich's full blocks, about three forwards, per pair of each step; the loss
        // over every training and held-out pair before and after training, one forward each
        long full = Math.max(0, in.options().sandwichWidth() - 1);
        long train = (long) in.options().stSteps() * in.options().stBatch() * 3L * full * block;
        long pairCount = (long) (in.calibrationPrompts() + in.heldOutPrompts()) * CALIBRATION_SEEDS * in.options().calibSteps();
        long losses = 2 * pairCount * full * block;
        flops.put(Phase.SANDWICH, training ? target * (pass + heldPass + train + losses) : 0);
        flops.put(Phase.EXPORT, 0L);
        // the output fidelity: the base's trajectory with both models, then the export's own (OutputFidelity), and
        // the timed forwards of both
        flops.put(Phase.REPORT, 3 * Math.max(heldPass, (long) Math.min(8, in.calibrationPrompts()) * CALIBRATION_SEEDS
                * in.options().calibSteps() * rowsPerCall * f) + 2L * SPEED_FORWARDS * SPEED_ROWS * f);
    }

    /** What the host holds whatever the job does: the runtime, the Java heap after loading, glibc's kept free memory. */
    private void addHostRuntime(List<Item> items, Phase ph, long javaHeapUse) {
        items.add(new Item("runtime (JVM, libtorch, ND4J)", HOST_RUNTIME));
        // the fit's calibration taps live in the same heap: what loading left committed is counted once
        items.add(new Item("Java heap, committed after loading", ph == Phase.FIT ? Math.max(0, javaHeapUse - taps) : javaHeapUse));
        items.add(new Item("allocator's retained free memory (MALLOC_TRIM_THRESHOLD_)", MALLOC_RETAINED));
    }

    /** Pairs per forward and backward of sandwich training: the micro-batch, or the whole minibatch. */
    int pairsPerPass() {
        int b = in.options().stBatch();
        int mb = in.options().stMicroBatch();
        return mb <= 0 ? b : Math.min(mb, b);
    }

    private String pairsText() {
        int pp = pairsPerPass();
        return pp == in.options().stBatch() ? pp + " pairs" : "micro-batch of " + pp + " pairs, step of " + in.options().stBatch();
    }

    /**
     * The output-mse probe's extra work as a share of one forward's blocks: per block, the blocks after it (one forward's
     * block FLOPs times this share; the final layer per probed block is small beside it).
     */
    double suffixShare(FluxParams p) {
        int n = p.blockCount();
        long[] cost = new long[n];
        long total = 0;
        for (int q = 0; q < n; q++) {
            cost[q] = q < p.depth() ? FlopCount.doubleBlock(p, 1, in.imageTokens(), in.textTokens())
                    : FlopCount.singleBlock(p, 1, in.imageTokens() + in.textTokens());
            total += cost[q];
        }
        double share = 0;
        long after = total;
        for (int q = 0; q < n; q++) {
            after -= cost[q];
            share += after / (double) total;
        }
        return share;
    }

    /**
     * The largest micro-batch (pairs per forward and backward of sandwich training) with which the sandwich phase fits
     * every device, at most {@code --st-batch}; 0 when not even one pair fits.
     */
    public int fittingMicroBatch() {
        for (int mb = in.options().stBatch(); mb >= 1; mb--) {
            JobPlan p = new JobPlan(in.withOptions(in.options().with(fastflux.pruning.PruneOptions.ST_MICRO_BATCH, mb)), caps, javaHeap);
            boolean fits = true;
            for (Use u : p.uses) if (u.phase() == Phase.SANDWICH && !u.fits()) fits = false;
            if (fits) return mb;
        }
        return 0;
    }

    private void addHost(List<Item> items, Phase ph, long lsHost, long pairsInMemory) {
        if (ph == Phase.FIT) {
            items.add(new Item("least-squares sums (float64, ND4J)", lsHost));
            if (taps > 0) items.add(new Item("calibration taps (Java heap)", taps));
        }
        if (ph == Phase.SANDWICH) items.add(new Item("sandwich pair buffer (direct)", pairsInMemory));
    }

    // ------------------------------------------------------------------ the formulas (docs/plan.md)

    static long bytes(DataType dt) {
        return dt == DataType.FLOAT16 ? 2 : 4;
    }

    /**
     * The largest activations of one forward at {@code rows} rows: a block's widest moment (the single block's
     * linear1 output qkv + MLP, the MLP's activation, linear2's input, the residual), the attention scores and their
     * softmax (bounded by {@link Attention#maxScoreElements}, fp32), the hidden state between blocks, the rotary
     * tables (fp32) and the step's inputs and sampler state (fp32).
     */
    long activations(long rows) {
        FluxParams p = in.params();
        long b = bytes(in.dtype());
        long l = in.imageTokens() + in.textTokens(), h = p.hiddenSize(), m = p.mlpHidden();
        long block = rows * b * (l * (3 * h + m) + l * m + l * (h + m) + 2 * l * h);
        long scores = Math.min(rows * p.numHeads() * l * l, Attention.maxScoreElements) * (4 + b);
        long hidden = rows * l * h * b * 2;
        long rope = rows * l * p.headDim() * 2 * 4;
        long inputs = rows * 4 * ((long) in.textTokens() * p.contextInDim() + (long) in.imageTokens() * (p.inChannels() + 3L * p.outChannels()));
        return block + scores + hidden + rope + inputs;
    }

    /**
     * Sandwich training's activations kept for backward: {@code rows} pairs (one micro-batch) through the sandwich's full
     * blocks (width − 1; the middle one is a linear), each saving its linears' inputs and outputs, the MLP's
     * activation and the full attention scores and softmax (autograd keeps every chunk); the minibatch's input and
     * target states in fp32.
     */
    long trainingActivations(long rows) {
        FluxParams p = in.params();
        long b = bytes(in.dtype());
        long l = in.imageTokens() + in.textTokens(), h = p.hiddenSize(), m = p.mlpHidden();
        long perBlock = rows * (b * (l * (3 * h + m) + 2 * l * m + l * (h + m) + 6 * l * h)
                + (long) p.numHeads() * l * l * (4 + b));
        long full = Math.max(0, in.options().sandwichWidth() - 1);
        long batch = rows * 2 * l * h * 4;
        return full * perBlock + batch;
    }

    /** One stream's normal equations in ND4J, float64: X̃ᵀX̃ [(h+1)²] and X̃ᵀF [(h+1)·h], sums and per-batch partials. */
    long leastSquaresHost(FluxParams p) {
        long h = p.hiddenSize();
        long stream = ((h + 1) * (h + 1) + (h + 1) * h) * 8;
        int streams = p.depth() > 0 ? 2 : 1;
        // on the CPU the device's partials are float64 as well, a third copy (PartialPrecision.AUTO)
        return streams * stream * (in.devices().gpu() ? 2 : 3);
    }

    /** On a GPU the per-batch partial sums are fp32 GEMMs on the device, over the batch's X̃ [rows·L, h+1]. */
    long leastSquaresDevice(FluxParams p, long rows) {
        if (!in.devices().gpu()) return 0;
        long h = p.hiddenSize(), l = in.imageTokens() + in.textTokens();
        return ((h + 1) * (h + 1) + (h + 1) * h) * 4 + rows * l * (2 * h + 1) * 4;
    }

    /** One sandwich pair, fp32 in direct memory: input and target states, vec, position ids. */
    long pairBytes() {
        FluxParams p = in.params();
        long l = in.imageTokens() + in.textTokens();
        return (2 * l * p.hiddenSize() + p.hiddenSize() + 3 * l) * 4;
    }

    /** Each device's block range as the job splits the model ({@link fastflux.model.BlockPlacement#split}). */
    static int[][] ranges(FluxModel shapes, int devices, long bytesPerParam) {
        int n = shapes.config().blockCount();
        long[] blocks = new long[n];
        for (int pos = 0; pos < n; pos++) blocks[pos] = weightParams(shapes, new int[] {pos, pos}, false, false) * bytesPerParam;
        long head = weightParams(shapes, new int[] {0, -1}, true, false) * bytesPerParam;
        long tail = weightParams(shapes, new int[] {0, -1}, false, true) * bytesPerParam;
        return fastflux.model.BlockPlacement.split(blocks, head, tail, devices);
    }

    /** Weights of a device's block range, the embedders on the first device and the final layer on the last. */
    static long weightParams(FluxModel model, int[] range, boolean first, boolean last) {
        FluxParams p = model.config();
        long n = 0;
        for (int pos = range[0]; pos <= range[1]; pos++) {
            Module blk = pos < p.depth() ? (Module) model.doubleBlocks().get(pos) : (Module) model.singleBlocks().get(pos - p.depth());
            n += count(blk.params());
        }
        for (Param q : model.params().values()) {
            boolean block = q.name().startsWith("double_blocks.") || q.name().startsWith("single_blocks.");
            if (block) continue;
            boolean fin = q.name().startsWith("final_layer.");
            if ((fin && last) || (!fin && first)) n += q.shape().size();
        }
        return n;
    }

    static long totalParams(FluxModel model) {
        return count(model.params());
    }

    private static long count(Map<String, Param> params) {
        long n = 0;
        for (Param q : params.values()) n += q.shape().size();
        return n;
    }

    /** The export's weights, at most: the target's smallest blocks replaced by their linears. */
    long exportParams(FluxModel model) {
        FluxParams p = model.config();
        int target = PruneJob.blocksFor(in.options().ratio(), p);
        long h = p.hiddenSize();
        List<long[]> blocks = new ArrayList<>(); // {params, linear params}
        for (var d : model.doubleBlocks()) blocks.add(new long[] {count(((Module) d).params()), 2 * (h * h + h)});
        for (var s : model.singleBlocks()) blocks.add(new long[] {count(((Module) s).params()), h * h + h});
        blocks.sort((x, y) -> Long.compare(x[0] - x[1], y[0] - y[1]));
        long n = totalParams(model);
        for (int i = 0; i < Math.min(target, blocks.size()); i++) {
            n -= blocks.get(i)[0] - (in.options().mode() == fastflux.model.Replacement.Mode.LINEAR ? blocks.get(i)[1] : 0);
        }
        return n;
    }

    /**
     * What the report reads beside the job's model, at most (ReportModels): the replaced blocks' originals from the
     * base, and from the export their linears and the adapted neighbours (up to width − 1 per replaced block), taken as
     * the largest blocks.
     */
    long reportReadParams(FluxModel model) {
        FluxParams p = model.config();
        int n = p.blockCount();
        int target = Math.min(PruneJob.blocksFor(in.options().ratio(), p), n);
        boolean lora = in.options().sandwichTraining() && in.options().stSteps() > 0 && in.options().sandwichWidth() > 1;
        long h = p.hiddenSize();
        long linears = (p.depth() > 0 ? 2 : 1) * (h * h + h);
        long replacedLinears = in.options().mode() == fastflux.model.Replacement.Mode.LINEAR ? target * linears : 0;
        List<Integer> known = knownReplacements(p, target);
        if (known != null) {
            // the ranking is given: the replaced blocks' originals and the neighbours their sandwiches adapt
            java.util.Set<Integer> read = new java.util.TreeSet<>(known);
            if (lora) read.addAll(adaptedNeighbours(known, n, (in.options().sandwichWidth() - 1) / 2));
            long params = 0;
            for (int pos : read) params += blockParams(model, pos);
            return params + replacedLinears;
        }
        int adapted = lora ? (int) Math.min(n - target, (long) target * (in.options().sandwichWidth() - 1)) : 0;
        List<Long> blocks = new ArrayList<>();
        for (var d : model.doubleBlocks()) blocks.add(count(((Module) d).params()));
        for (var s : model.singleBlocks()) blocks.add(count(((Module) s).params()));
        blocks.sort(java.util.Comparator.reverseOrder());
        long read = 0;
        for (int i = 0; i < target + adapted; i++) read += blocks.get(i);
        return read + replacedLinears;
    }

    /**
     * The positions the job will replace, in its order, where the ranking is known before the job runs
     * ({@code --importance-from}, or a fixed order); null when the importance phase will decide.
     */
    List<Integer> knownReplacements(FluxParams p, int target) {
        int n = p.blockCount();
        List<Integer> out = new ArrayList<>();
        switch (in.options().order()) {
            case START2END -> { for (int i = 0; i < target; i++) out.add(i); }
            case END2START -> { for (int i = 0; i < target; i++) out.add(n - 1 - i); }
            case IMPORTANCE -> {
                Path from = in.options().importanceFrom();
                if (from == null || !java.nio.file.Files.isRegularFile(from)) return null;
                for (var b : fastflux.pruning.ImportanceReport.read(from, p).leastImportant(target)) out.add(b.position(p));
            }
        }
        return out;
    }

    /**
     * The blocks the sandwiches adapt when {@code replaced} are replaced in that order: for each, the {@code k}
     * nearest blocks on each side not replaced by then ({@code SandwichTrainer.plan}), less those replaced later.
     */
    static java.util.Set<Integer> adaptedNeighbours(List<Integer> replaced, int n, int k) {
        java.util.Set<Integer> gone = new java.util.HashSet<>();
        java.util.Set<Integer> adapted = new java.util.TreeSet<>();
        for (int pos : replaced) {
            gone.add(pos);
            int found = 0;
            for (int q = pos - 1; q >= 0 && found < k; q--) if (!gone.contains(q)) { adapted.add(q); found++; }
            found = 0;
            for (int q = pos + 1; q < n && found < k; q++) if (!gone.contains(q)) { adapted.add(q); found++; }
        }
        adapted.removeAll(replaced);
        return adapted;
    }

    private static long blockParams(FluxModel model, int pos) {
        FluxParams p = model.config();
        Module blk = pos < p.depth() ? (Module) model.doubleBlocks().get(pos) : (Module) model.singleBlocks().get(pos - p.depth());
        return count(blk.params());
    }

    /** What one sandwich trains, at most: a double block's two linears and rank-r adapters on its two neighbours. */
    long trainableParams(FluxModel model) {
        long h = model.config().hiddenSize();
        long linears = (model.config().depth() > 0 ? 2 : 1) * (h * h + h);
        return linears + loraParams(model);
    }

    long loraParams(FluxModel model) {
        if (in.options().sandwichWidth() <= 1) return 0;
        long r = in.options().loraRank();
        long widest = 0;
        if (!model.doubleBlocks().isEmpty()) widest = lora(((DoubleStreamBlock) model.doubleBlocks().get(0)).linears(), r);
        if (!model.singleBlocks().isEmpty()) widest = Math.max(widest, lora(((SingleStreamBlock) model.singleBlocks().get(0)).linears(), r));
        return (in.options().sandwichWidth() - 1) * widest;
    }

    private static long lora(Map<String, Linear> linears, long r) {
        long n = 0;
        for (Linear l : linears.values()) n += r * ((long) l.in() + l.out());
        return n;
    }

    static long largestTensor(FluxModel model) {
        long max = 0;
        for (Param q : model.params().values()) max = Math.max(max, q.shape().size());
        return max;
    }

    private static String rangeText(int[] r) {
        return r[0] > r[1] ? "none" : r[0] + ".." + r[1];
    }

    // ------------------------------------------------------------------ results

    public Inputs inputs() {
        return in;
    }

    public List<Use> uses() {
        return uses;
    }

    /** The use of {@code device} in {@code phase}. */
    public Use use(String device, Phase phase) {
        for (Use u : uses) if (u.device().equals(device) && u.phase() == phase) return u;
        throw new IllegalArgumentException("no use of " + device + " in " + phase.label());
    }

    /** The largest use of each device over the phases. */
    public Map<String, Use> peaks() {
        Map<String, Use> out = new LinkedHashMap<>();
        for (Use u : uses) out.merge(u.device(), u, (a, c) -> c.total() > a.total() ? c : a);
        return out;
    }

    public Map<String, Long> disk() {
        return disk;
    }

    public Map<Phase, Long> flops() {
        return flops;
    }

    public long totalFlops() {
        return flops.values().stream().mapToLong(Long::longValue).sum();
    }

    /** The first phase and device that do not fit, in phase order, or null. */
    public Use firstMisfit() {
        for (Use u : uses) if (!u.fits()) return u;
        if (taps > javaHeap) {
            return new Use("java heap", Phase.FIT, List.of(new Item("calibration taps (Java heap)", taps)), javaHeap,
                    "the JVM's -Xmx");
        }
        return null;
    }

    /** "; it fits with --st-micro-batch M" where the sandwich phase is what does not fit and a smaller micro-batch fits. */
    private String microBatchHint(Use misfit) {
        if (misfit.phase() != Phase.SANDWICH) return "";
        int mb = sandwichMicroBatch();
        return mb > 0 ? "; the sandwich phase fits with --st-micro-batch " + mb : "";
    }

    /**
     * The largest sandwich micro-batch that lets the job fit where the sandwich phase is the only one on a device
     * that does not, else 0 (the job fits as it is, or a smaller micro-batch would not make it fit).
     */
    public int sandwichMicroBatch() {
        if (pairsPerPass() <= 1) return 0;
        boolean sandwichMisfit = false;
        for (Use u : uses) {
            if (u.fits()) continue;
            if (u.phase() != Phase.SANDWICH) return 0;
            sandwichMisfit = true;
        }
        if (!sandwichMisfit) return 0;
        int mb = fittingMicroBatch();
        return mb > 0 && mb < pairsPerPass() ? mb : 0;
    }

    /** @throws PlanRefusedException naming the phase, the device, what it needs and what it has */
    public void requireFits() {
        Use u = firstMisfit();
        if (u == null) return;
        Item biggest = u.items().stream().max(java.util.Comparator.comparingLong(Item::bytes)).orElseThrow();
        throw new PlanRefusedException(u.device(), u.phase(), String.format(Locale.ROOT,
                "this job cannot fit: phase %s needs %s on %s, which has %s (%s); the largest part is %s, %s%s. "
                        + "Run `fastflux plan` with the same options for the whole table",
                u.phase().label(), Bytes.format(u.total()), u.device(), Bytes.format(u.capacity()), u.capacitySource(),
                biggest.what(), Bytes.format(biggest.bytes()), microBatchHint(u)));
    }

    /**
     * The plan as printed: per device a table of phases, the disk, and the time from {@code flopsPerSecond} (a
     * measured forward's rate; NaN leaves the time out).
     */
    public String format(double flopsPerSecond, String rateSource) {
        StringBuilder s = new StringBuilder();
        FluxParams p = in.params();
        s.append(String.format(Locale.ROOT, "model: %d double + %d single blocks, hidden %d, %,d parameters; %s on %s%n",
                p.depth(), p.depthSingleBlocks(), p.hiddenSize(), totalParams(new FluxModel(p)),
                ComputeDtype.name(in.dtype()), in.devices()));
        s.append(String.format(Locale.ROOT, "job: ratio %s (%d of %d blocks), %d + %d tokens, %d calibration prompts x %d seeds x %d steps%n",
                PruneOptions.plain(in.options().ratio()), PruneJob.blocksFor(in.options().ratio(), p), p.blockCount(),
                in.imageTokens(), in.textTokens(), in.calibrationPrompts(), CALIBRATION_SEEDS, in.options().calibSteps()));
        for (String device : peaks().keySet()) {
            Use first = use(device, Phase.IMPORTANCE);
            s.append(String.format(Locale.ROOT, "%nmemory of %s (capacity %s, %s)%n", device, Bytes.format(first.capacity()),
                    first.capacitySource()));
            for (Phase ph : Phase.values()) {
                Use u = use(device, ph);
                s.append(String.format(Locale.ROOT, "  %-10s %12s%s%n", ph.label(), Bytes.format(u.total()),
                        u.fits() ? "" : "  DOES NOT FIT"));
                for (Item it : u.items()) {
                    if (it.bytes() > 0) s.append(String.format(Locale.ROOT, "      %-64s %12s%n", it.what(), Bytes.format(it.bytes())));
                }
            }
        }
        if (taps > 0) {
            s.append(String.format(Locale.ROOT, "%njava heap: calibration taps %s of -Xmx %s%s%n", Bytes.format(taps),
                    Bytes.format(javaHeap), taps > javaHeap ? "  DOES NOT FIT" : ""));
        }
        s.append(String.format(Locale.ROOT, "%ndisk written%n"));
        long total = 0;
        for (Map.Entry<String, Long> e : disk.entrySet()) {
            s.append(String.format(Locale.ROOT, "  %-66s %12s%n", e.getKey(), Bytes.format(e.getValue())));
            total += e.getValue();
        }
        s.append(String.format(Locale.ROOT, "  %-66s %12s%n", "total", Bytes.format(total)));
        s.append(String.format(Locale.ROOT, "%ntime%n"));
        for (Map.Entry<Phase, Long> e : flops.entrySet()) {
            s.append(String.format(Locale.ROOT, "  %-10s %10.3g TFLOP%s%n", e.getKey().label(), e.getValue() / 1e12,
                    Double.isNaN(flopsPerSecond) ? "" : "  " + duration(e.getValue() / flopsPerSecond)));
        }
        s.append(String.format(Locale.ROOT, "  %-10s %10.3g TFLOP%s%n", "total", totalFlops() / 1e12,
                Double.isNaN(flopsPerSecond) ? "" : "  " + duration(totalFlops() / flopsPerSecond)));
        if (!Double.isNaN(flopsPerSecond)) {
            s.append(String.format(Locale.ROOT, "  at %.3g GFLOP/s (%s)%n", flopsPerSecond / 1e9, rateSource));
        }
        Use misfit = firstMisfit();
        s.append(misfit == null ? "\nfits: every phase fits its devices\n"
                : "\nrefused: phase " + misfit.phase().label() + " does not fit on " + misfit.device() + microBatchHint(misfit) + "\n");
        return s.toString();
    }

    /** {@code 3 h 12 min}, {@code 41 s}. */
    static String duration(double seconds) {
        if (seconds < 120) return String.format(Locale.ROOT, "%.0f s", seconds);
        if (seconds < 7200) return String.format(Locale.ROOT, "%.0f min", seconds / 60);
        if (seconds < 3 * 86400) return String.format(Locale.ROOT, "%.1f h", seconds / 3600);
        return String.format(Locale.ROOT, "%.1f days", seconds / 86400);
    }
}
