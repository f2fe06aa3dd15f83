package fastflux.world;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import ai.djl.ndarray.types.DataType;
import fastflux.model.FluxModel;
import fastflux.model.ModelDir;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Set;

/**
 * What the pruning method sees of the images a model makes: its prompt sets, the transformer's conditioning for a
 * prompt, images generated for (prompt, seed) pairs with the transformer as it is at the moment, an alignment score
 * per image against its prompt, and image features for a Fréchet distance. Calibration, the importance probe
 * (Eq. 2: FD and alignment with each block removed) and the quality report read a world only through this.
 *
 * <p>The Shapes world implements it with its renderer's judge and feature map; a FLUX.1 pipeline implements it with
 * CLIP. Implementations are found by {@link Worlds#open} through {@link WorldProvider}s.
 *
 * @param <I> the world's image type, opaque to the method: it only passes images from {@link #generate} back
 */
public interface World<I> {
    /** The transformer; the method edits it in place (replaced blocks, adapters) and generation uses it as it is. */
    FluxModel flux();

    /** {@code n} prompts for calibration or the importance probe, deterministic in {@code seed}. */
    List<String> samplePrompts(int n, long seed);

    /** A short label of {@link #samplePrompts}'s set for reports, e.g. {@code grammar(n=64, seed=7)}. */
    String describeSample(int n, long seed);

    /**
     * {@code n} prompts deterministic in {@code seed}, none of whose texts is in {@code exclude}: a held-out set.
     *
     * @throws IllegalArgumentException when the world cannot give that many
     */
    List<String> heldOutPrompts(Collection<String> exclude, int n, long seed);

    /**
     * Reads a prompt file of this world's format, checking every line.
     *
     * @throws IllegalArgumentException naming the file and line of a bad prompt
     */
    List<String> readPrompts(Path file) throws IOException;

    /** The transformer's conditioning for {@code prompts}, created in {@code m}. */
    Conditioning condition(List<String> prompts, NDManager m);

    /** One batch's conditioning: txt [B, L, C], y [B, vec_in], txt_ids [B, L, 3], img_ids [B, L_img, 3]. */
    record Conditioning(NDArray txt, NDArray y, NDArray txtIds, NDArray imgIds) {}

    /** Packed latent tokens per image (L_img). */
    int latentTokens();

    /** Text tokens per prompt (L_txt). */
    int textTokens();

    /** Whether the sampler's timestep schedule is shifted towards high noise (FLUX-dev style). */
    boolean shiftSchedule();

    /** Sampler steps the model is used with. */
    int defaultSteps();

    /** Guidance the model is used with. */
    float defaultGuidance();

    /** Images per forward of the report's latency and FLOP work. */
    int workImages();

    /** Images of {@code prompts}, image i from noise seed {@code seeds[i]}, with the transformer as it is now. */
    List<I> generate(List<String> prompts, long[] seeds, int steps, float guidance, int batch);

    /** Per image, how well it shows its prompt, in [0, 1]. */
    double[] alignment(List<String> prompts, List<I> images);

    /** The set's alignment from the per-image scores (a plain mean, or the world's own weighting of its categories). */
    double meanAlignment(List<String> prompts, double[] perImage);

    /** One image's features for a Fréchet distance; every image gives {@link #featureDim()} values. */
    double[] features(I image);

    int featureDim();

    /**
     * Features of the reference images the importance probe measures its FD against: {@code n} images of the world's
     * own data, deterministic in {@code seed}; null where the world has none, and the probe measures against the
     * unpruned model's images of the same prompts and seeds.
     */
    double[][] referenceFeatures(int n, long seed);

    /** A quality evaluation: the world's report (JSON) and the images it judged. */
    record Evaluation<I>(JsonObject report, List<I> images) {}

    /** Told as images of an evaluation are made. */
    interface Progress {
        void done(int images, int total);
    }

    /** The quality report's evaluation: {@code seeds} images of each prompt, judged. */
    Evaluation<I> evaluate(List<String> prompts, int seeds, Progress progress);

    /** Fidelity of {@code images} to {@code reference} (the same prompts and seeds, in the same order), as JSON. */
    JsonObject fidelity(List<String> prompts, int seeds, List<I> reference, List<I> images);

    /**
     * The world's own calibration split, {@code {fit, train}}: the least squares fit on {@code fit} prompts and the
     * sandwiches train on {@code train} others (disjoint sets, as in the paper); null where the job's
     * {@code calib-prompts} prompts serve both.
     */
    default int[] calibrationSplit() {
        return null;
    }

    /** Images per block of the importance probe the job asked this world for, or 0: the method's default. */
    default int probeImages() {
        return 0;
    }

    /**
     * Why this world cannot judge images (alignment, features, evaluation), naming what to give; null when it can.
     * Checked before a job that judges images starts.
     */
    default String judgeMissing() {
        return null;
    }

    /** Writes the pruned model directory: the transformer as it is now, with the world's own parts of {@code baseDir}. */
    void exportPruned(Path baseDir, Path outDir);

    /**
     * How a job wants its export written, where the world's layout has the choice: copies rather than links of the
     * parts pruning does not change, and the largest weight file in bytes (diffusers' shards).
     */
    record ExportChoices(boolean copy, long maxShardBytes) {
        /** Links, and diffusers' default shard size of 10 GB. */
        public static final ExportChoices DEFAULT = new ExportChoices(false, 10_000_000_000L);

        public ExportChoices {
            if (maxShardBytes < 1) throw new IllegalArgumentException("the largest shard must be at least 1 byte, got " + maxShardBytes);
        }
    }

    /** {@link #exportPruned(Path, Path)} with the job's choices; a world whose layout has no such choices ignores them. */
    default void exportPruned(Path baseDir, Path outDir, ExportChoices choices) {
        exportPruned(baseDir, outDir);
    }

    /**
     * The transformer of a model directory of this world's kind, the base or its export, loaded in {@code dtype} into
     * {@code m}: how the report loads both as a user would.
     */
    default FluxModel loadTransformer(Path dir, NDManager m, DataType dtype) {
        return ModelDir.load(dir, m, dtype, Set.of());
    }

    /**
     * As {@link #loadTransformer(Path, NDManager, DataType)}, every tensor checked but only the parameters whose
     * names {@code only} accepts read (the others are left without a value): the report reads the blocks in which
     * the base and its export differ, and shares the rest with the job's model.
     */
    default FluxModel loadTransformer(Path dir, NDManager m, DataType dtype, java.util.function.Predicate<String> only) {
        return ModelDir.load(dir, m, dtype, Set.of(), only);
    }

    /**
     * Called once the job's report exists ({@code report.json}'s object): a world whose export carries a model card
     * rewrites it with the report's quality and latency figures. Nothing by default.
     */
    default void describeExport(Path outDir, JsonObject report) {}
}
