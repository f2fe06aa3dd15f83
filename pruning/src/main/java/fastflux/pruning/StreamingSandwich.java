package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.model.DoubleStreamBlock;
import fastflux.model.DoubleStreamLayer;
import fastflux.model.FluxModel;
import fastflux.model.Linear;
import fastflux.model.LoRA;
import fastflux.model.LoraInjector;
import fastflux.model.Module;
import fastflux.model.Param;
import fastflux.model.ReplacedDoubleBlock;
import fastflux.model.ReplacedSingleBlock;
import fastflux.model.ShortcutDoubleBlock;
import fastflux.model.ShortcutSingleBlock;
import fastflux.model.SingleStreamBlock;
import fastflux.model.SingleStreamLayer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The sandwich trainer fed by the calibration stream (issue 36 §3): pairs are handed over as the stream records them
 * ({@link #accept}) into the first pass's window ({@link PairOrder}; the pairs themselves in {@link PairWindow}), and
 * every training step whose minibatch has been released runs at once on those pairs. A pair that has had its first-pass
 * step (or that no step will take) is then offered to the pairs kept for further passes and the final loss: the
 * bounded buffer and a disk spill of at most {@code spillBytes} ({@link PairReservoir}), which keep a seeded uniform
 * sample once the pairs exceed them. So the first pass never reads the buffer or the spill back, and memory is the
 * window and the buffer, whatever the stream's length. {@link #finish} ends the stream, runs the remaining steps and
 * puts the trained linears and adapters into the model. docs/streams.md, "The sandwich trainer", has the semantics.
 *
 * <p>The stream keeps running the model as it was (B_i's original layer in its slot, no new adapters), so training runs
 * on a twin of the sandwich: the blocks from B_u to B_d rebuilt around the model's own frozen weights (shared, never
 * written), with copies of what is trained (the replaced blocks' linears, existing adapters) and fresh adapters. Its
 * forward is the model's, operation for operation, so with the same pairs in the same order it trains the same values
 * as {@link SandwichTrainer#train(FluxModel, SandwichTrainer.Sandwich, SandwichPairs, SandwichPairs, SandwichTrainer.Options, NDManager, int)}
 * bit for bit. The initial loss over all pairs is summed as the pairs arrive, each minibatch of {@code batchSize}
 * consecutive pairs with the trained values as they were before the first step.
 *
 * <p>One thread at a time: the actor that drives it ({@code fastflux.streams.SandwichTrainerActor}) or the recording
 * thread itself.
 */
public final class StreamingSandwich implements AutoCloseable {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(StreamingSandwich.class);
    /** The job's log context where the trainer was made: its lines are written on the trainer actor's thread. */
    private final java.util.Map<String, String> logContext = LogContext.current();
    private final FluxModel model;
    private final SandwichTrainer.Sandwich sandwich;
    private final Module replacement;
    private final SandwichTrainer.Options options;
    private final NDManager manager;
    private final NDManager twinManager;
    private final FluxModel twin;
    private final SandwichPairs.Layout layout;
    /** Pairs between their arrival and their first-pass step. */
    private final PairWindow window;
    /** Pairs kept for further passes and the final loss. */
    private final PairReservoir kept;
    /** The pairs of the initial loss's minibatch being filled (arrival order), and what the first pass reads. */
    private final java.util.ArrayList<float[]> initialPending = new java.util.ArrayList<>();
    private final PairSource training;
    private final SandwichPairs heldOut;
    private final PairOrder order;
    private final SandwichTrainer.Session session;
    private final SandwichTrainer.Curve curve;
    /** The trained values before the first step, to sum the initial loss with. */
    private final Map<Param, NDArray> initialValues = new LinkedHashMap<>();
    private final double[] losses;
    private int step;
    private long initialDone;
    private double initialSum;
    private long mostAhead;
    private boolean finished;

    /**
     * @param model the model the stream runs; {@code replacement} (B_i's fitted linear or shortcut) is not in it now
     * @param replacement what B_i's slot holds once the stream has ended
     * @param layout the pairs' shape
     * @param heldOut held-out pairs, recorded before (null: none); read, never trained on; closed by the caller
     * @param manager where the model's new adapters are made at the end
     */
    public StreamingSandwich(FluxModel model, SandwichTrainer.Sandwich sandwich, Module replacement,
                             SandwichPairs.Layout layout, SandwichPairs heldOut, SandwichTrainer.Options options,
                             NDManager manager) {
        this.model = model;
        this.sandwich = sandwich;
        this.replacement = replacement;
        this.options = options;
        this.manager = manager;
        this.heldOut = heldOut;
        this.layout = layout;
        this.window = new PairWindow(layout);
        this.kept = new PairReservoir(layout, options.bufferBytes(), options.spillDir(), options.spillBytes(), options.seed());
        if (kept.capacity() < 1) {
            kept.close();
            throw new IllegalArgumentException("buffer-bytes " + options.bufferBytes() + " and spill-bytes " + options.spillBytes()
                    + " hold no sandwich pair of " + layout.bytes() + " bytes; further passes and the final loss need at least one");
        }
        this.order = new PairOrder(options.window(layout), options.seed());
        this.order.furtherPasses(this::furtherPairs);
        this.training = new PairSource() {
            @Override
            public SandwichPairs.Layout layout() {
                return layout;
            }

            @Override
            public long size() {
                return order.arrived();
            }

            @Override
            public float[] get(long i) {
                return window.holds(i) ? window.get(i) : kept.get(i);
            }
        };
        this.losses = new double[options.steps()];
        this.twinManager = manager.newSubManager();
        try {
            this.twin = twin(model, sandwich, replacement, twinManager);
            this.session = new SandwichTrainer.Session(twin, sandwich, options, twinManager);
            for (Param p : session.trained().values()) initialValues.put(p, p.value().duplicate());
            long held = heldOut == null ? 0 : heldOut.size();
            this.curve = new SandwichTrainer.Curve(heldOut, SandwichTrainer.heldOutEvery(options.steps(), options.batchSize(), held),
                    twin, sandwich, options, twinManager);
        } catch (RuntimeException e) {
            window.close();
            kept.close();
            twinManager.close();
            throw e;
        }
    }

    /** Takes the next pairs of the stream, in its order, and runs every training step they complete. */
    public void accept(List<float[]> records) {
        if (finished) throw new IllegalStateException("the sandwich's stream has ended");
        for (float[] r : records) {
            window.put(order.arrived(), r);
            initialPending.add(r);
            order.arrive();
        }
        if (step < options.steps()) mostAhead = Math.max(mostAhead, ahead()); // after the last step nothing waits
        sumInitial(false);
        train();
        if (step == options.steps()) keepReleased();
    }

    /** Pairs the stream has handed over that no training step has taken yet. */
    public long ahead() {
        return order.holding() + order.waiting();
    }

    /** The most pairs the stream was ever ahead of training, each time pairs were handed over. */
    public long mostAhead() {
        return mostAhead;
    }

    /**
     * The most pairs the stream can be ahead of training when it hands over {@code perHandOver} pairs at a time and
     * waits for them to be taken: the window, a minibatch short of one, and the pairs handed over.
     */
    public static long bound(long window, int batchSize, int perHandOver) {
        return window + batchSize - 1 + perHandOver;
    }

    public SandwichPairs.Layout layout() {
        return layout;
    }

    private void train() {
        while (step < options.steps()) {
            long[] idx = order.next(options.batchSize());
            if (idx == null) return;
            curve.before(step);
            losses[step] = session.step(training, idx);
            step++;
            for (long i : idx) leaveWindow(i);
        }
    }

    /** Pair {@code i} has had its first-pass step: offered to the kept pairs (once), out of the window. */
    private void leaveWindow(long i) {
        if (!window.holds(i)) return; // a further pass's pair, or one a minibatch took twice
        if (!window.offered(i)) kept.offer(i, window.get(i));
        window.remove(i);
    }

    /** Training has ended: the pairs released for it go to the kept pairs without a step. */
    private void keepReleased() {
        for (long i : order.drainReleased()) leaveWindow(i);
    }

    /**
     * The pairs further passes shuffle, asked for by {@link PairOrder} when the first further pass starts (the stream
     * has ended and every pair has been released): the pairs still in the window (the minibatch being drawn) are
     * offered first, so the kept pairs are final.
     */
    private long[] furtherPairs() {
        for (long i : window.indices()) {
            if (!window.offered(i)) {
                kept.offer(i, window.get(i));
                window.markOffered(i);
            }
        }
        LogContext.run(logContext, () -> LOG.info(
                "sandwich {}: further passes train on {} of the {} pairs{} (buffer {} bytes, spill at most {} bytes)",
                sandwich.block(), kept.size(), kept.offered(), kept.size() < kept.offered() ? ", a seeded uniform sample" : "",
                options.bufferBytes(), options.spillBytes()));
        return kept.kept();
    }

    /** The initial loss of every complete minibatch of consecutive pairs (and, at the end, of the last one). */
    private void sumInitial(boolean end) {
        int b = options.pairsPerPass();
        while (initialPending.size() >= b || (end && !initialPending.isEmpty())) {
            int k = Math.min(b, initialPending.size());
            List<float[]> batch = List.copyOf(initialPending.subList(0, k));
            initialPending.subList(0, k).clear();
            long[] idx = new long[k];
            for (int j = 0; j < k; j++) idx[j] = j;
            PairSource src = new PairSource() {
                @Override
                public SandwichPairs.Layout layout() {
                    return layout;
                }

                @Override
                public long size() {
                    return k;
                }

                @Override
                public float[] get(long i) {
                    return batch.get((int) i);
                }
            };
            Map<Param, NDArray> now = new LinkedHashMap<>();
            initialValues.forEach((p, v) -> now.put(p, p.exchange(v)));
            try {
                initialSum += SandwichTrainer.minibatchLoss(twin, sandwich, src, idx, twinManager) * k; // float * k, as loss() sums
            } finally {
                now.forEach(Param::exchange);
            }
            initialDone += k;
        }
    }

    /**
     * The stream has ended: the window's pairs are released, the remaining steps run (further passes read the buffer),
     * the losses are measured, and the trained values go into the model, B_i's slot holding {@code replacement} again.
     */
    public SandwichTrainer.Result finish() {
        if (finished) throw new IllegalStateException("finished already");
        finished = true;
        long n = order.arrived();
        if (n == 0) throw new IllegalArgumentException("no sandwich pairs were recorded");
        order.end();
        window.end();
        sumInitial(true);
        train();
        keepReleased();
        if (window.size() != 0) throw new IllegalStateException(window.size() + " sandwich pairs are left in the window");
        double initial = initialSum / n;
        double fin = SandwichTrainer.loss(twin, sandwich, kept.inOrder(), options.pairsPerPass(), twinManager);
        curve.after(options.steps());
        if (kept.size() < n) {
            LogContext.run(logContext, () -> LOG.info("sandwich {}: the final loss is over the {} of {} pairs kept (buffer and spill)",
                    sandwich.block(), kept.size(), n));
        }
        SandwichTrainer.Result r = curve.result(sandwich, session.trainedNames(), initial, fin, losses, n, kept.spilledBytes());
        session.close();
        writeBack();
        return r;
    }

    /** The twin's trained values into the model: its linears, and its adapters (injected where the model has none). */
    private void writeBack() {
        Module inSlot = SandwichTrainer.slot(model, sandwich.block());
        if (inSlot != replacement) {
            throw new IllegalStateException("block " + sandwich.block() + " must hold its replacement again before the "
                    + "trained values go in, but holds " + inSlot.getClass().getSimpleName());
        }
        Map<String, Param> target = new LinkedHashMap<>();
        for (BlockId b : sandwich.trained()) target.putAll(SandwichTrainer.slot(model, b).params());
        LoraInjector injector = new LoraInjector(options.loraRank(), options.loraAlpha(), options.seed());
        for (BlockId b : sandwich.loraBlocks()) {
            injector.inject(model, b, manager);
            target.putAll(LoraInjector.trainableParams(model, b));
        }
        Map<String, Param> trained = session.trained();
        if (!target.keySet().equals(trained.keySet())) {
            throw new IllegalStateException("the model's trained parameters " + target.keySet() + " are not the twin's "
                    + trained.keySet());
        }
        for (Map.Entry<String, Param> e : trained.entrySet()) {
            Param to = target.get(e.getKey());
            NDArray v = e.getValue().value().duplicate();
            v.attach(to.value().getManager());
            to.set(v);
        }
    }

    /** Pairs handed over so far. */
    public long arrived() {
        return order.arrived();
    }

    /** Pairs kept for further passes and the final loss (the buffer and its spill). */
    public long keptPairs() {
        return kept.size();
    }

    /** Bytes of kept pairs on disk now. */
    public long spilledBytes() {
        return kept.spilledBytes();
    }

    /** The spill directory, or null while nothing spilled. */
    public java.nio.file.Path spillDirectory() {
        return kept.spillDirectory();
    }

    /** Reads of kept pairs (buffer or spill) so far: none while the stream runs. */
    public long keptReads() {
        return kept.reads();
    }

    /** The most pairs the window held at once. */
    public long mostInWindow() {
        return window.most();
    }

    /** Frees the twin's copies and the buffer (after {@link #finish}, or on failure). */
    @Override
    public void close() {
        if (!finished) session.close();
        finished = true;
        try {
            window.close();
            kept.close();
        } finally {
            twinManager.close();
        }
    }

    // ------------------------------------------------------------------ the twin

    /**
     * A model whose slots {@code s.first()..s.last()} hold new layers of the same kinds as the model's (B_i's slot
     * {@code replacement}): frozen weights shared with the model, trained ones (replaced blocks' linears, adapters)
     * copied into {@code m}. The other slots are empty: the twin runs the sandwich only.
     */
    static FluxModel twin(FluxModel model, SandwichTrainer.Sandwich s, Module replacement, NDManager m) {
        var p = model.config();
        FluxModel twin = new FluxModel(p);
        twin.setDtype(model.dtype());
        int at = s.block().position(p);
        for (int q = s.first(); q <= s.last(); q++) {
            BlockId b = BlockId.atPosition(q, p);
            Module from = q == at ? replacement : SandwichTrainer.slot(model, b);
            Module copy = layerLike(from, p);
            boolean trained = from instanceof ReplacedDoubleBlock || from instanceof ReplacedSingleBlock;
            Map<String, Param> to = copy.params();
            for (Param src : from.params().values()) {
                Param dst = to.get(src.name());
                if (dst == null) throw new IllegalStateException("the twin of " + b + " has no " + src.name());
                if (trained) {
                    NDArray v = src.value().duplicate();
                    v.attach(m);
                    dst.set(v);
                } else {
                    dst.set(src.value());
                }
            }
            copyAdapters(from, copy, m, model.dtype(), s, model);
            if (b.kind() == BlockId.Kind.DOUBLE) {
                twin.setDouble(b.index(), (DoubleStreamLayer) copy);
            } else {
                twin.setSingle(b.index(), (SingleStreamLayer) copy);
            }
        }
        return twin;
    }

    private static Module layerLike(Module layer, fastflux.model.FluxParams p) {
        String prefix = layer.prefix();
        if (layer instanceof DoubleStreamBlock) return new DoubleStreamBlock(prefix, p);
        if (layer instanceof SingleStreamBlock) return new SingleStreamBlock(prefix, p);
        if (layer instanceof ReplacedDoubleBlock) return new ReplacedDoubleBlock(prefix, p.hiddenSize());
        if (layer instanceof ReplacedSingleBlock) return new ReplacedSingleBlock(prefix, p.hiddenSize());
        if (layer instanceof ShortcutDoubleBlock) return new ShortcutDoubleBlock(prefix);
        if (layer instanceof ShortcutSingleBlock) return new ShortcutSingleBlock(prefix);
        throw new IllegalArgumentException("a sandwich cannot be trained across a " + layer.getClass().getSimpleName());
    }

    /** Copies of the adapters an earlier sandwich left on {@code from}'s linears (they are trained further). */
    private static void copyAdapters(Module from, Module to, NDManager m, ai.djl.ndarray.types.DataType dtype,
                                     SandwichTrainer.Sandwich s, FluxModel model) {
        Map<String, Linear> src = linears(from);
        Map<String, Linear> dst = linears(to);
        for (Map.Entry<String, Linear> e : src.entrySet()) {
            LoRA a = e.getValue().lora();
            if (a == null) continue;
            Linear l = dst.get(e.getKey());
            // the alpha that gives the same scale: rank * scale is alpha itself for the ranks and alphas a job uses
            LoRA c = new LoRA(e.getKey(), l.in(), l.out(), a.rank(), a.scale() * a.rank(), m, dtype, 0);
            if (Float.floatToIntBits(c.scale()) != Float.floatToIntBits(a.scale())) {
                throw new IllegalStateException("cannot copy the adapter of " + e.getKey() + " with its scale " + a.scale());
            }
            for (Param[] pq : new Param[][] {{a.a(), c.a()}, {a.b(), c.b()}}) {
                NDArray v = pq[0].value().duplicate();
                v.attach(m);
                pq[1].set(v);
            }
            l.setLora(c);
        }
    }

    private static Map<String, Linear> linears(Module layer) {
        if (layer instanceof DoubleStreamBlock d) return d.linears();
        if (layer instanceof SingleStreamBlock s) return s.linears();
        return new LinkedHashMap<>(); // a replaced block's linears are trained in full, never adapted
    }
}
