package fastflux.world;

import ai.djl.ndarray.NDManager;
import java.nio.file.Path;

/** Opens the model directories of one kind of world; found through {@link java.util.ServiceLoader}. */
public interface WorldProvider {
    /** Whether {@code dir} holds a model of this world (read from its files, without loading the model). */
    boolean recognises(Path dir);

    /** Loads the model in {@code dir} in fp32 as a world, its arrays in {@code m}. */
    World<?> open(Path dir, NDManager m);
}
