package fastflux.world;

import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.Map;

/** Opens the model directories of one kind of world; found through {@link java.util.ServiceLoader}. */
public interface WorldProvider {
    /** Whether {@code dir} holds a model of this world (read from its files, without loading the model). */
    boolean recognises(Path dir);

    /** Loads the model in {@code dir} in fp32 as a world, its arrays in {@code m}. */
    World<?> open(Path dir, NDManager m);

    /** The settings key of the job's output directory, where a world may keep caches; every world accepts it. */
    String OUT = "out";

    /**
     * The settings key of the report's evaluation prompt file, which a world may prepare for (empty: the report
     * evaluates nothing; absent: the world's default set); every world accepts it.
     */
    String EVAL_PROMPTS = "eval-prompts";

    /**
     * As {@link #open(Path, NDManager)} with the job's world settings, keyed by option name ({@code prompts},
     * {@code clip}, {@code width}, ...) with their values as text. A world that takes none refuses any, naming them.
     */
    default World<?> open(Path dir, NDManager m, Map<String, String> settings) {
        java.util.List<String> other = settings.keySet().stream().filter(k -> !k.equals(OUT) && !k.equals(EVAL_PROMPTS)).toList();
        if (!other.isEmpty()) {
            throw new IllegalArgumentException(dir + " is a model that takes none of the options "
                    + String.join(", ", other.stream().map(k -> "--" + k).toList())
                    + " (they are for a FLUX.1 pipeline directory)");
        }
        return open(dir, m);
    }

    /**
     * The world's prompt files and default evaluation set, read without loading a model; null where the caller's own
     * (the Shapes grammar's) apply.
     */
    default PromptSets promptSets() {
        return null;
    }
}
