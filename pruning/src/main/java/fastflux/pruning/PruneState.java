package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import fastflux.checkpoints.CheckpointStore;
import fastflux.model.BlockId;
import fastflux.model.FluxParams;
import fastflux.model.Replacement;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A pruning job's progress: the options, the replacement order, the blocks done so far with their residuals and
 * training losses, and the block whose linear is fitted but not yet sandwich-trained ({@code fitted}, or null).
 * Written after every phase (importance, each block's fit, each block's sandwich) as a numbered
 * {@link CheckpointStore} pair: a
 * versioned JSON manifest and a safetensors file of the trained components (replaced linears, LoRA adapters)
 * whose SHA-256 the manifest records. Reading takes the newest pair that verifies, so a corrupted or
 * half-written checkpoint falls back to the previous good one.
 *
 * <p>Besides, each time a block is done the state is kept as a stage ({@code stage-NNNN.json} with NNNN the
 * number of blocks replaced, never deleted): the components exactly as a run to that lower ratio would have
 * them, which {@link PruneJob#reuseFrom(java.nio.file.Path, boolean)} can export without training.
 */
public record PruneState(JsonObject options, int target, List<BlockId> order, List<BlockResult> completed,
                         BlockResult fitted, int number) {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(PruneState.class);
    /** 3: the manifest's own checksum ({@link CheckpointStore}); 2: the store's "payload" keys. */
    public static final int VERSION = 3;
    /** Manifests of this version have no checksum of their own: they are still read, without one. */
    private static final int UNCHECKSUMMED = 2;
    private static final int KEEP = 3;

    /**
     * One replaced block: its least-squares residuals per stream (overall and per sampler step; empty when not
     * measured) and its sandwich-training summary.
     */
    public record BlockResult(BlockId block, Replacement.Mode mode, Map<String, Double> residuals,
                              Map<String, BlockFitter.StepProfile> steps, SandwichTrainer.Result training) {
        public BlockResult withTraining(SandwichTrainer.Result t) {
            return new BlockResult(block, mode, residuals, steps, t);
        }
    }

    public static PruneState fresh(JsonObject options, int target) {
        return new PruneState(options, target, null, List.of(), null, 0);
    }

    public PruneState withOrder(List<BlockId> o) {
        return new PruneState(options, target, List.copyOf(o), completed, fitted, number);
    }

    /** {@code r} done; no block is pending any more. */
    public PruneState withCompleted(BlockResult r) {
        List<BlockResult> c = new ArrayList<>(completed);
        c.add(r);
        return new PruneState(options, target, order, List.copyOf(c), null, number);
    }

    /** {@code r}'s block is replaced by its fitted linear (or its shortcut); its sandwich training is still to run. */
    public PruneState withFitted(BlockResult r) {
        return new PruneState(options, target, order, completed, r, number);
    }

    public boolean done() {
        return order != null && completed.size() >= target;
    }

    static CheckpointStore store(Path dir) {
        return new CheckpointStore(dir, "state", "components", "safetensors", VERSION, KEEP).alsoReadingUnchecksummed(UNCHECKSUMMED);
    }

    Path componentsFile(Path dir) {
        return store(dir).payloadFile(number);
    }

    /** Writes the next numbered checkpoint and drops all but the last few. Returns the state with its number. */
    public PruneState write(Path dir, Map<String, NDArray> components) {
        PruneState next = new PruneState(options, target, order, completed, fitted, number + 1);
        store(dir).write(next.number, next.toJson(), safetensors("state", next.number, components));
        return next;
    }

    static CheckpointStore stages(Path dir) {
        return new CheckpointStore(dir, "stage", "stage-components", "safetensors", VERSION, CheckpointStore.KEEP_ALL)
                .alsoReadingUnchecksummed(UNCHECKSUMMED);
    }

    /** Keeps this state (a block just done, none pending) as the stage of its number of replaced blocks. */
    public void writeStage(Path dir, Map<String, NDArray> components) {
        if (fitted != null || completed.isEmpty()) {
            throw new IllegalStateException("a stage is a state with blocks done and none pending");
        }
        int blocks = completed.size();
        stages(dir).write(blocks, toJson(), safetensors("stage", blocks, components));
    }

    /** The components as one float32 safetensors file, its metadata naming the checkpoint. */
    private static CheckpointStore.PayloadWriter safetensors(String kind, int number, Map<String, NDArray> components) {
        return out -> {
            SafetensorsWriter w = new SafetensorsWriter().metadata(kind, Integer.toString(number));
            components.forEach((k, v) -> w.add(k, v, DType.F32));
            w.writeTo(out);
        };
    }

    /** The stage of {@code blocks} replaced blocks in {@code dir} if it exists and verifies; null otherwise. */
    public static PruneState readStage(Path dir, int blocks, FluxParams p) {
        return stages(dir).read(blocks, (json, payload, n) -> fromJson(json, n, p));
    }

    /** The components file of a stage read by {@link #readStage} (its number is its block count). */
    Path stageComponentsFile(Path dir) {
        return stages(dir).payloadFile(number);
    }

    /** The newest checkpoint in {@code dir} whose manifest and components match their checksums; null if none. */
    public static PruneState read(Path dir, FluxParams p) {
        return store(dir).readNewest((json, payload, n) -> fromJson(json, n, p));
    }

    /**
     * For the job that owns {@code dir}, resuming: deletes the temp files an interrupted write left there, then
     * returns the newest checkpoint that verifies and that {@code restore} applies to the model. A checkpoint
     * {@code restore} throws on is corrupt, however well its checksums hold (e.g. a component the model has no
     * place for): {@code restore} leaves the model as it found it, and the previous checkpoint is tried. Null if
     * none applies.
     */
    public static PruneState resume(Path dir, FluxParams p, Consumer<PruneState> restore) {
        CheckpointStore store = store(dir);
        store.deleteStaleTempFiles();
        stages(dir).deleteStaleTempFiles();
        PruneState s = store.readNewest((json, payload, n) -> {
            PruneState state = fromJson(json, n, p);
            restore.accept(state);
            return state;
        });
        if (s == null && !store.numbers().isEmpty()) {
            LOG.warn("no checkpoint in {} verifies and applies to the model (each one's reason is logged above); the job starts over", dir);
        }
        return s;
    }

    JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.add("options", options);
        o.addProperty("target", target);
        if (order != null) {
            JsonArray a = new JsonArray();
            order.forEach(b -> a.add(b.name()));
            o.add("order", a);
        }
        JsonArray c = new JsonArray();
        for (BlockResult r : completed) c.add(resultJson(r));
        o.add("completed", c);
        if (fitted != null) o.add("fitted", resultJson(fitted));
        return o;
    }

    static JsonObject resultJson(BlockResult r) {
        JsonObject e = new JsonObject();
        e.addProperty("block", r.block().name());
        e.addProperty("mode", r.mode().jsonName());
        JsonObject res = new JsonObject();
        r.residuals().forEach(res::addProperty);
        e.add("residuals", res);
        if (!r.steps().isEmpty()) {
            JsonObject residual = new JsonObject();
            JsonObject energy = new JsonObject();
            r.steps().forEach((stream, p) -> {
                residual.add(stream, array(p.residual()));
                energy.add(stream, array(p.energy()));
            });
            e.add("residuals_per_step", residual);
            e.add("branch_energy_per_step", energy);
        }
        if (r.training() != null) {
            SandwichTrainer.Result t = r.training();
            JsonObject tj = new JsonObject();
            tj.addProperty("up", t.up() == null ? null : t.up().name());
            tj.addProperty("down", t.down() == null ? null : t.down().name());
            JsonArray params = new JsonArray();
            t.trainedParams().forEach(params::add);
            tj.add("trained_params", params);
            tj.addProperty("initial_loss", t.initialLoss());
            tj.addProperty("final_loss", t.finalLoss());
            tj.addProperty("pairs", t.pairs());
            if (t.heldOutPairs() > 0) {
                tj.addProperty("held_out_initial_loss", t.heldOutInitialLoss());
                tj.addProperty("held_out_final_loss", t.heldOutFinalLoss());
                tj.addProperty("held_out_pairs", t.heldOutPairs());
                JsonArray steps = new JsonArray();
                for (int x : t.heldOutSteps()) steps.add(x);
                tj.add("held_out_steps", steps);
                tj.add("held_out_losses", array(t.heldOutLosses()));
            }
            JsonArray losses = new JsonArray();
            for (double l : t.losses()) losses.add(l);
            tj.add("losses", losses);
            e.add("training", tj);
        }
        return e;
    }

    private static JsonArray array(double[] v) {
        JsonArray a = new JsonArray();
        for (double x : v) a.add(x);
        return a;
    }

    private static double[] doubles(JsonArray a) {
        double[] v = new double[a.size()];
        for (int i = 0; i < v.length; i++) v[i] = a.get(i).getAsDouble();
        return v;
    }

    private static PruneState fromJson(JsonObject json, int number, FluxParams p) {
        List<BlockId> order = null;
        if (json.has("order")) {
            order = new ArrayList<>();
            for (JsonElement e : json.getAsJsonArray("order")) order.add(BlockId.parse(e.getAsString(), p));
        }
        List<BlockResult> done = new ArrayList<>();
        for (JsonElement e : json.getAsJsonArray("completed")) done.add(resultFromJson(e.getAsJsonObject(), p));
        BlockResult fitted = json.has("fitted") ? resultFromJson(json.getAsJsonObject("fitted"), p) : null;
        return new PruneState(json.getAsJsonObject("options"), json.get("target").getAsInt(), order, List.copyOf(done), fitted, number);
    }

    static BlockResult resultFromJson(JsonObject o, FluxParams p) {
        BlockId b = BlockId.parse(o.get("block").getAsString(), p);
        Replacement.Mode mode = o.get("mode").getAsString().equals("delete") ? Replacement.Mode.DELETE : Replacement.Mode.LINEAR;
        Map<String, Double> res = new java.util.LinkedHashMap<>();
        o.getAsJsonObject("residuals").entrySet().forEach(x -> res.put(x.getKey(), x.getValue().getAsDouble()));
        Map<String, BlockFitter.StepProfile> steps = new java.util.LinkedHashMap<>();
        if (o.has("residuals_per_step")) { // absent in states saved without per-step residuals, and when nothing was held out
            for (var x : o.getAsJsonObject("residuals_per_step").entrySet()) {
                steps.put(x.getKey(), new BlockFitter.StepProfile(doubles(x.getValue().getAsJsonArray()),
                        doubles(o.getAsJsonObject("branch_energy_per_step").getAsJsonArray(x.getKey()))));
            }
        }
        SandwichTrainer.Result t = null;
        if (o.has("training")) {
            JsonObject tj = o.getAsJsonObject("training");
            List<String> params = new ArrayList<>();
            tj.getAsJsonArray("trained_params").forEach(x -> params.add(x.getAsString()));
            JsonArray la = tj.getAsJsonArray("losses");
            double[] losses = new double[la.size()];
            for (int i = 0; i < losses.length; i++) losses[i] = la.get(i).getAsDouble();
            boolean held = tj.has("held_out_pairs"); // absent when nothing was held out (a calibration file)
            boolean curve = tj.has("held_out_steps"); // absent in states saved without the held-out curve
            int[] curveSteps = new int[curve ? tj.getAsJsonArray("held_out_steps").size() : 0];
            for (int i = 0; i < curveSteps.length; i++) curveSteps[i] = tj.getAsJsonArray("held_out_steps").get(i).getAsInt();
            t = new SandwichTrainer.Result(b, tj.get("up").isJsonNull() ? null : BlockId.parse(tj.get("up").getAsString(), p),
                    tj.get("down").isJsonNull() ? null : BlockId.parse(tj.get("down").getAsString(), p), params,
                    tj.get("initial_loss").getAsDouble(), tj.get("final_loss").getAsDouble(), losses,
                    tj.get("pairs").getAsLong(), 0,
                    held ? tj.get("held_out_initial_loss").getAsDouble() : Double.NaN,
                    held ? tj.get("held_out_final_loss").getAsDouble() : Double.NaN,
                    held ? tj.get("held_out_pairs").getAsLong() : 0, curveSteps,
                    curve ? doubles(tj.getAsJsonArray("held_out_losses")) : new double[0]);
        }
        return new BlockResult(b, mode, res, steps, t);
    }
}
