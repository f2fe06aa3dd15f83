package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import fastflux.model.BlockPlacement;
import fastflux.model.FluxModel;
import fastflux.model.LoraInjector;
import fastflux.model.Param;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;

/**
 * The base model and its export as the report compares them, built around one copy of the weights they share. Every
 * parameter of a block the job left as it was (no replacement, no adapter), and of the embedders and the final layer,
 * is the job's own array, shared by both models; the base's replaced blocks are read from the base directory and the
 * export's replaced and adapted blocks (linears, adapters merged) from the export, as its world loads it. Besides the
 * job's model this holds the replaced blocks' originals and the blocks the export changed, never a second or third
 * full model. Both share arrays with the job's model: neither may set or close a parameter.
 */
public final class ReportModels {
    /** Reads a model directory's transformer with only the parameters {@code only} accepts (every tensor checked). */
    public interface Loader {
        FluxModel load(Path dir, NDManager m, Predicate<String> only);
    }

    private final FluxModel base;
    private final FluxModel pruned;
    private final Set<String> changed;
    private final Set<String> replaced;
    private final long readBytes;

    private ReportModels(FluxModel base, FluxModel pruned, Set<String> replaced, Set<String> changed, long readBytes) {
        this.base = base;
        this.pruned = pruned;
        this.replaced = replaced;
        this.changed = changed;
        this.readBytes = readBytes;
    }

    /**
     * The base and the export of {@code job} (the job's model after its last sandwich: replaced blocks and adapters
     * in place), their own arrays in {@code m}.
     *
     * @throws IllegalArgumentException when the export does not replace the blocks the job replaced
     */
    public static ReportModels open(FluxModel job, Path baseDir, Path exportDir, Loader loader, NDManager m) {
        Set<String> replaced = new TreeSet<>();
        for (Replacement r : PrunedModels.replacements(job)) replaced.add(r.block().name() + ".");
        Set<String> changed = new TreeSet<>(replaced);
        for (String name : LoraInjector.trainableParams(job).keySet()) {
            if (name.contains(".lora_")) changed.add(blockPrefix(name));
        }
        Predicate<String> inReplaced = name -> replaced.contains(blockPrefix(name));
        Predicate<String> inChanged = name -> changed.contains(blockPrefix(name));
        FluxModel base = loader.load(baseDir, m, inReplaced);
        FluxModel pruned = loader.load(exportDir, m, inChanged);
        Set<String> exportReplaced = new TreeSet<>();
        for (Replacement r : PrunedModels.replacements(pruned)) exportReplaced.add(r.block().name() + ".");
        if (!exportReplaced.equals(replaced)) {
            throw new IllegalArgumentException(exportDir + " replaces " + exportReplaced + " but the job replaced " + replaced);
        }
        long read = ownBytes(base, inReplaced) + ownBytes(pruned, inChanged);
        Map<String, Param> shared = job.params();
        share(base, shared, inReplaced, baseDir);
        share(pruned, shared, inChanged, exportDir);
        base.setDtype(job.dtype());
        pruned.setDtype(job.dtype());
        BlockPlacement placement = job.placement();
        if (placement != null) { // the blocks read here onto their devices, in managers closed with m
            List<NDManager> managers = placement.managers(m);
            base.place(placement, managers);
            pruned.place(placement, managers);
        }
        return new ReportModels(base, pruned, replaced, changed, read);
    }

    private static void share(FluxModel model, Map<String, Param> job, Predicate<String> own, Path dir) {
        List<String> missing = new ArrayList<>();
        for (Param p : model.params().values()) {
            if (own.test(p.name())) continue;
            Param j = job.get(p.name());
            if (j == null || !j.hasValue() || !j.shape().equals(p.shape())) {
                missing.add(p.name());
                continue;
            }
            p.exchange(j.value());
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException(dir + ": the job's model has no parameter to share for " + missing);
        }
    }

    private static long ownBytes(FluxModel model, Predicate<String> own) {
        long n = 0;
        for (Param p : model.params().values()) {
            if (own.test(p.name()) && p.hasValue()) n += p.value().size() * p.value().getDataType().getNumOfBytes();
        }
        return n;
    }

    /** "double_blocks.3." for any parameter of that block, "" for the embedders and the final layer. */
    static String blockPrefix(String name) {
        if (!name.startsWith("double_blocks.") && !name.startsWith("single_blocks.")) return "";
        int first = name.indexOf('.');
        return name.substring(0, name.indexOf('.', first + 1) + 1);
    }

    /** The base model: the job's arrays, its replaced blocks' originals read from the base directory. */
    public FluxModel base() {
        return base;
    }

    /** The export as a user loads it: the job's arrays where it left the base as it was, the rest read from the export. */
    public FluxModel pruned() {
        return pruned;
    }

    /** The replaced blocks' prefixes ({@code double_blocks.3.}). */
    public Set<String> replaced() {
        return replaced;
    }

    /** The prefixes of the blocks the export changed: replaced, or merged with adapters. */
    public Set<String> changed() {
        return changed;
    }

    /** Bytes of the parameters read from the two directories (all the rest is shared with the job's model). */
    public long readBytes() {
        return readBytes;
    }

    /** Whether {@code a} is one of the job's arrays that both models share. */
    static boolean sharedWith(FluxModel job, String name, NDArray a) {
        Param p = job.params().get(name);
        return p != null && p.hasValue() && p.value() == a;
    }
}
