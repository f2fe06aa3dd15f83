package fastflux.pruning;

import com.google.gson.JsonObject;
import fastflux.world.World;
import java.util.List;

/**
 * The report's quality comparison: the base and the pruned model's images of the same prompts and seeds, each set
 * judged by the world, and the pruned images' fidelity to the base ones.
 */
final class QualityComparison {
    private final JsonObject base;
    /** The base model's images, which the pruned model's are compared with. */
    private final List<?> baseImages;

    /** The base model's evaluation, measured on the model in memory before any block was replaced or on a fresh copy. */
    QualityComparison(World.Evaluation<?> base) {
        this.base = base.report();
        this.baseImages = base.images();
    }

    /** The report's {@code quality} object, with {@code pruned} the pruned model's evaluation of the same prompts. */
    JsonObject against(World<?> world, PruneJob.Quality quality, World.Evaluation<?> pruned) {
        JsonObject q = new JsonObject();
        q.addProperty("prompts", quality.label() + ", " + quality.seeds() + " seeds");
        q.add("base", base);
        q.add("pruned", pruned.report());
        q.add("fidelity", fidelity(world, quality, baseImages, pruned.images()));
        return q;
    }

    @SuppressWarnings("unchecked")
    private static <I> JsonObject fidelity(World<I> world, PruneJob.Quality quality, List<?> base, List<?> pruned) {
        return world.fidelity(quality.prompts(), quality.seeds(), (List<I>) base, (List<I>) pruned);
    }
}
