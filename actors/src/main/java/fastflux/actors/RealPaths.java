package fastflux.actors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Paths compared as the file system sees them: two jobs whose output paths differ as strings may still write to
 * one directory (a symbolic link to it, {@code ..}), and such a pair must be refused like equal strings.
 */
final class RealPaths {
    private RealPaths() {}

    /** {@code path} with every symbolic link on it resolved, even one whose target does not exist yet. */
    static Path of(String path) {
        Path p = Path.of(path).toAbsolutePath().normalize();
        for (int hops = 0; hops < 40; hops++) {
            Path link = firstLink(p);
            if (link == null) return p;
            try {
                Path target = link.getParent().resolve(Files.readSymbolicLink(link));
                p = target.resolve(link.relativize(p)).normalize();
            } catch (IOException e) {
                return p;
            }
        }
        return p; // a cycle of links: compared as it stands
    }

    private static Path firstLink(Path p) {
        Path prefix = p.getRoot();
        for (Path name : p) {
            prefix = prefix.resolve(name);
            if (Files.isSymbolicLink(prefix)) return prefix;
        }
        return null;
    }

    /** Whether {@code a} and {@code b} name the same place. */
    static boolean same(String a, String b) {
        return a.equals(b) || of(a).equals(of(b));
    }
}
