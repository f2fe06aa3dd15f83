package fastflux.actors;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The directories a daemon's jobs may read from and write to ({@code fastflux.daemon.allowed-roots}). Every path of a
 * submitted job is checked here before any file is touched, with its symbolic links resolved, so that {@code ..}
 * and links leading out are refused; the refusal says nothing of the path's target (not even whether it exists).
 */
public final class AllowedRoots {
    private final List<Path> roots;

    private AllowedRoots(List<Path> roots) {
        this.roots = roots;
    }

    /** Confinement to {@code roots} (each resolved as the file system sees it); none given confines to nothing. */
    public static AllowedRoots of(List<String> roots) {
        List<Path> real = new ArrayList<>();
        for (String r : roots) {
            if (r.isBlank()) continue;
            real.add(RealPaths.of(r));
        }
        return new AllowedRoots(List.copyOf(real));
    }

    /** The roots as given to the error message. */
    public List<Path> roots() {
        return roots;
    }

    /**
     * @throws IllegalArgumentException naming {@code what}, the path as given and the roots, when the path (its links
     *     resolved) lies outside every root
     */
    public void require(String what, String path) {
        if (path == null) return;
        Path real = RealPaths.of(path);
        for (Path r : roots) {
            if (real.startsWith(r)) return;
        }
        throw new IllegalArgumentException(what + " " + path + " is outside the daemon's allowed roots " + roots
                + " (fastflux.daemon.allowed-roots)");
    }
}
