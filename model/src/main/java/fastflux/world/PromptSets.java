package fastflux.world;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** A world's prompt files and default evaluation prompts, as a job reads them before any model is loaded. */
public interface PromptSets {
    /**
     * The prompts of a file in the world's format, every line checked.
     *
     * @throws IllegalArgumentException naming the file and line of a bad prompt
     */
    List<String> read(Path file) throws IOException;

    /** The report's default evaluation prompts: {@code n} of the world's evaluation set, deterministic in {@code seed}. */
    List<String> evaluation(int n, long seed);

    /** A label of {@link #evaluation}'s set for reports. */
    String describeEvaluation(int n, long seed);
}
