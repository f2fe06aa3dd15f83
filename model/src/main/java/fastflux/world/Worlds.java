package fastflux.world;

import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.Map;
import java.util.ServiceLoader;

/** The worlds on the classpath: which one, if any, a model directory belongs to. */
public final class Worlds {
    private Worlds() {}

    /** The provider that recognises {@code dir}, or null: a bare transformer checkpoint. */
    public static WorldProvider providerOf(Path dir) {
        for (WorldProvider p : ServiceLoader.load(WorldProvider.class)) {
            if (p.recognises(dir)) return p;
        }
        return null;
    }

    /** The model in {@code dir} as a world, or null when no world on the classpath recognises it. */
    public static World<?> open(Path dir, NDManager m) {
        WorldProvider p = providerOf(dir);
        return p == null ? null : p.open(dir, m);
    }

    /** As {@link #open(Path, NDManager)} with the job's world settings ({@link WorldProvider#open(Path, NDManager, Map)}). */
    public static World<?> open(Path dir, NDManager m, Map<String, String> settings) {
        WorldProvider p = providerOf(dir);
        return p == null ? null : p.open(dir, m, settings);
    }
}
