package fastflux.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The FLUX.1 transformer (the reference's {@code Flux} class): embedders, double-stream blocks over separate
 * image/text streams, single-stream blocks over the joint sequence, final layer. Block slots are replaceable
 * ({@link #setDouble}, {@link #setSingle}): pruning is composition, not editing.
 */
public final class FluxModel extends Module {
    private final FluxParams params;
    final Linear imgIn;
    final MLPEmbedder timeIn;
    final MLPEmbedder vectorIn;
    final MLPEmbedder guidanceIn; // null unless guidance_embed
    final Linear txtIn;
    private final List<DoubleStreamLayer> doubleBlocks = new ArrayList<>();
    private final List<SingleStreamLayer> singleBlocks = new ArrayList<>();
    final LastLayer finalLayer;
    private DataType dtype = DataType.FLOAT32;
    private BlockPlacement placement; // null: every weight on one device
    private List<NDManager> placementManagers;

    public FluxModel(FluxParams p) {
        super("");
        this.params = p;
        int h = p.hiddenSize();
        imgIn = new Linear("img_in.", p.inChannels(), h, true);
        timeIn = new MLPEmbedder("time_in.", 256, h);
        vectorIn = new MLPEmbedder("vector_in.", p.vecInDim(), h);
        guidanceIn = p.guidanceEmbed() ? new MLPEmbedder("guidance_in.", 256, h) : null;
        txtIn = new Linear("txt_in.", p.contextInDim(), h, true);
        for (int i = 0; i < p.depth(); i++) doubleBlocks.add(new DoubleStreamBlock("double_blocks." + i + ".", p));
        for (int i = 0; i < p.depthSingleBlocks(); i++) singleBlocks.add(new SingleStreamBlock("single_blocks." + i + ".", p));
        finalLayer = new LastLayer("final_layer.", h, p.outChannels());
    }

    public FluxParams config() {
        return params;
    }

    /** The compute dtype (FLOAT32 or FLOAT16) the weights were loaded in. */
    public DataType dtype() {
        return dtype;
    }

    /** Records the dtype the weights were loaded in, for loaders outside this package (other checkpoint layouts). */
    public void setDtype(DataType dtype) {
        this.dtype = dtype;
    }

    /**
     * Splits the model over devices: every parameter goes to (stays on, where it was loaded there) the device of its
     * block's range in {@code placement}, owned by that device's manager in {@code managers} (one per device, as
     * {@link BlockPlacement#managers}); the forward then moves the hidden state where a range ends.
     */
    public void place(BlockPlacement placement, List<NDManager> managers) {
        if (managers.size() != placement.devices().size()) {
            throw new IllegalArgumentException(managers.size() + " managers for " + placement.devices().size() + " devices");
        }
        this.placement = placement;
        this.placementManagers = List.copyOf(managers);
        placeWeights();
    }

    /** How the model is split over devices, or null when it lives on one device. */
    public BlockPlacement placement() {
        return placement;
    }

    /** The device manager of parameter {@code name}'s block under the placement, or null when the model is not split. */
    public NDManager managerFor(String name) {
        return placement == null ? null : placementManagers.get(placement.deviceIndexOf(name, params));
    }

    /**
     * Moves every parameter (LoRA adapters included) that lives on another device than its block's to that device,
     * into its manager; a no-op for a model on one device. Called after anything adds weights to a split model (a
     * block's fitted linears, adapters), which are made on the job's first device.
     */
    public void placeWeights() {
        if (placement == null) return;
        Map<String, Param> all = new LinkedHashMap<>(params());
        all.putAll(LoraInjector.trainableParams(this));
        for (Param p : all.values()) {
            if (!p.hasValue()) continue;
            int d = placement.deviceIndexOf(p.name(), params);
            Device device = placement.devices().get(d);
            NDArray v = p.value();
            if (v.getDevice().equals(device)) continue;
            NDArray moved = v.toDevice(device, true);
            moved.attach(placementManagers.get(d));
            if (v.hasGradient()) moved.setRequiresGradient(true);
            p.set(moved);
        }
    }

    /** {@code a} on {@code device}: itself when it is there, else a copy there (in {@code a}'s manager). */
    public static NDArray onDevice(NDArray a, Device device) {
        return a.getDevice().equals(device) ? a : a.toDevice(device, false);
    }

    private Device deviceOf(int position) {
        return placement.devices().get(placement.deviceIndexOfPosition(position));
    }

    private static HiddenState onDevice(HiddenState h, Device device) {
        if (h.arrays()[0].getDevice().equals(device)) return h;
        return h.isJoint() ? HiddenState.ofJoint(onDevice(h.joint(), device))
                : HiddenState.of(onDevice(h.streams().img(), device), onDevice(h.streams().txt(), device));
    }

    public List<DoubleStreamLayer> doubleBlocks() {
        return Collections.unmodifiableList(doubleBlocks);
    }

    public List<SingleStreamLayer> singleBlocks() {
        return Collections.unmodifiableList(singleBlocks);
    }

    /** Puts a layer in double-stream slot i; returns the one it replaces (still open: the caller owns it). */
    public DoubleStreamLayer setDouble(int i, DoubleStreamLayer layer) {
        return doubleBlocks.set(i, layer);
    }

    public SingleStreamLayer setSingle(int i, SingleStreamLayer layer) {
        return singleBlocks.set(i, layer);
    }

    /** The conditioning vector: time + guidance + pooled text embeddings. */
    // timesteps [B], y [B, vec_in], guidance [B] -> vec [B, H]
    public NDArray vec(FluxInputs in) {
        NDArray vec = timeIn.forward(head(Nn.timestepEmbedding(in.timesteps(), 256).toType(dtype, false)));
        if (guidanceIn != null) {
            if (in.guidance() == null) {
                throw new IllegalArgumentException("this config embeds guidance (guidance_embed=true) but no guidance was given");
            }
            vec = vec.add(guidanceIn.forward(head(Nn.timestepEmbedding(in.guidance(), 256).toType(dtype, false))));
        }
        return vec.add(vectorIn.forward(head(in.y().toType(dtype, false))));
    }

    /** An input of the embedders on their device (the first of a split model). */
    private NDArray head(NDArray a) {
        return placement == null ? a : onDevice(a, placement.first());
    }

    /** Rotary tables for cat(txt_ids, img_ids). */
    public Rope rope(FluxInputs in) {
        return rope(in.txtIds().concat(in.imgIds(), 1));
    }

    /** Rotary tables for position ids [B, L_txt + L_img, n_axes], text first (as {@link #rope(FluxInputs)}). */
    public Rope rope(NDArray ids) {
        return Rope.embed(ids, params.axesDim(), params.theta(), DataType.FLOAT32);
    }

    /** The embedded input of the first block: img_in(img), txt_in(txt) in the compute dtype. */
    public HiddenState embed(FluxInputs in) {
        return HiddenState.of(imgIn.forward(head(in.img().toType(dtype, false))), txtIn.forward(head(in.txt().toType(dtype, false))));
    }

    public NDArray forward(FluxInputs in) {
        return forward(in, BlockTap.NONE);
    }

    /** The velocity prediction [B, L_img, out_channels]; the tap sees every block's input and output. */
    public NDArray forward(FluxInputs in, BlockTap tap) {
        HiddenState h = embed(in);
        long lt = h.streams().txt().getShape().get(1);
        NDArray vec = vec(in);
        Rope pe = rope(in);
        NDArray x = runBlocks(0, params.blockCount() - 1, h, vec, pe, tap).toJoint();
        return onDevice(output(x, vec, lt), in.img().getDevice()); // a split model answers on the caller's device
    }

    /**
     * The final layer on the last block's joint output: the image tokens (after the {@code txtTokens} text
     * tokens) to the velocity [B, L_img, out_channels] in fp32. Public so that a model split over shards can
     * run its tail on the last shard exactly as {@link #forward} does.
     */
    // joint [B, L_txt + L_img, H], vec [B, H] -> [B, L_img, out]
    public NDArray output(NDArray joint, NDArray vec, long txtTokens) {
        if (placement != null) {
            joint = onDevice(joint, placement.last());
            vec = onDevice(vec, placement.last());
        }
        return finalLayer.forward(joint.get(":, {}:", txtTokens), vec).toType(DataType.FLOAT32, false);
    }

    /**
     * Runs the blocks at forward positions {@code from..to} (inclusive; {@link BlockId#position}) on {@code state},
     * the input of block {@code from}: streams for a double block, streams or the joint sequence for a single
     * block. Streams become the joint sequence {@code cat(txt, img)} before the first single block, exactly as in
     * {@link #forward}. Returns the output of block {@code to}: streams after a double block, joint after a single
     * one. {@code from = to + 1} runs nothing and returns the state as it is.
     */
    public HiddenState runBlocks(int from, int to, HiddenState state, NDArray vec, Rope pe, BlockTap tap) {
        int n = params.blockCount();
        if (from < 0 || to >= n || from > to + 1) {
            throw new IllegalArgumentException("block range " + from + ".." + to + " outside 0.." + (n - 1));
        }
        int depth = doubleBlocks.size();
        if (from < depth && state.isJoint()) {
            throw new IllegalArgumentException("double block " + from + " needs (img, txt) streams, got the joint sequence");
        }
        HiddenState h = state;
        boolean scoped = !Nn.recordingGradients();
        Map<Device, NDArray> vecs = new java.util.HashMap<>(); // vec and the rotary tables on each device of the range
        Map<Device, Rope> ropes = new java.util.HashMap<>();
        try {
            for (int p = from; p <= to; p++) {
                NDArray v = vec;
                Rope r = pe;
                if (placement != null) {
                    Device d = deviceOf(p);
                    h = onDevice(h, d); // the hidden state crosses to the device of the next range
                    v = vecs.computeIfAbsent(d, x -> onDevice(vec, x));
                    r = pe.device().equals(d) ? pe : ropes.computeIfAbsent(d, pe::toDevice);
                }
                h = runOne(p, depth, h, v, r, tap, scoped);
            }
        } finally {
            // at inference the copies go now; under a GradientCollector they stay in pe's manager until backward is done
            if (scoped) for (Rope r : ropes.values()) r.close();
        }
        return h;
    }

    private HiddenState runOne(int p, int depth, HiddenState h, NDArray vec, Rope pe, BlockTap tap, boolean scoped) {
        if (!scoped) return runBlock(p, depth, h, vec, pe, tap);
        // A block's intermediates (attention scores, the MLP's activations, ...) are freed when it ends rather
        // than when the caller's scope closes: the forward then holds one block's worth of them, not every
        // block's, and the allocator reuses that memory instead of mapping fresh pages for each block. (At
        // inference only: under a GradientCollector the graph keeps them for backward whatever we free.)
        NDManager outer = h.arrays()[0].getManager();
        try (NDManager scope = outer.newSubManager()) {
            List<NDArray> in = List.of(h.arrays());
            for (NDArray a : in) a.tempAttach(scope);
            vec.tempAttach(scope);
            HiddenState y = runBlock(p, depth, h, vec, pe, tap);
            for (NDArray a : y.arrays()) {
                if (in.stream().noneMatch(x -> x == a)) a.attach(outer); // an identity block hands its input back
            }
            return y;
        }
    }

    private HiddenState runBlock(int p, int depth, HiddenState h, NDArray vec, Rope pe, BlockTap tap) {
        if (p < depth) {
            Streams x = h.streams();
            Streams y = doubleBlocks.get(p).forward(x.img(), x.txt(), vec, pe);
            tap.doubleBlock(p, x, y);
            return HiddenState.of(y);
        }
        NDArray x = h.toJoint();
        NDArray y = singleBlocks.get(p - depth).forward(x, vec, pe);
        tap.singleBlock(p - depth, x, y);
        return HiddenState.ofJoint(y);
    }

    public HiddenState runBlocks(int from, int to, HiddenState state, NDArray vec, Rope pe) {
        return runBlocks(from, to, state, vec, pe, BlockTap.NONE);
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(imgIn.params());
        out.putAll(timeIn.params());
        out.putAll(vectorIn.params());
        if (guidanceIn != null) out.putAll(guidanceIn.params());
        out.putAll(txtIn.params());
        for (DoubleStreamLayer b : doubleBlocks) out.putAll(b.params());
        for (SingleStreamLayer b : singleBlocks) out.putAll(b.params());
        out.putAll(finalLayer.params());
    }

    /** Parameter shapes by name: the checkpoint contract of this model. */
    public Map<String, Shape> expectedShapes() {
        Map<String, Shape> m = new LinkedHashMap<>();
        params().forEach((k, v) -> m.put(k, v.shape()));
        return m;
    }

    /**
     * Fills every parameter with PyTorch's default initialisation (uniform ±1/√fan_in for linear layers, ones
     * for norm scales), seeded. Used by benchmarks with random weights and as the start of training.
     */
    public void initRandom(NDManager manager, DataType dt, long seed) {
        this.dtype = dt;
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
        for (Param p : params().values()) {
            long[] s = p.shape().getShape();
            int n = (int) p.shape().size();
            float[] v = new float[n];
            if (p.name().endsWith(".scale")) {
                java.util.Arrays.fill(v, 1f);
            } else {
                long fanIn = p.name().endsWith(".bias") ? -1 : s[s.length - 1];
                double bound = 1.0 / Math.sqrt(fanIn > 0 ? fanIn : biasFanIn(p.name()));
                for (int i = 0; i < n; i++) v[i] = (float) ((rnd.nextDouble() * 2 - 1) * bound);
            }
            NDArray a = Tensors.create(manager, v, p.shape());
            p.set(dt == DataType.FLOAT32 ? a : a.toType(dt, false));
        }
    }

    private long biasFanIn(String biasName) {
        Param w = params().get(biasName.substring(0, biasName.length() - "bias".length()) + "weight");
        return w == null ? 1 : w.shape().get(w.shape().dimension() - 1);
    }
}
