package fastflux.pipeline.export;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The parts of the base an export does not change: linked (absolute links to the base's entries, so the export
 * can move while the base stays put) or copied, and the base's licence, always copied.
 */
final class Components {
    private Components() {}

    /** LICENSE, LICENSE.md, LICENCE.txt, COPYING, ... at the top of the base. */
    private static final Pattern LICENCE = Pattern.compile("(?i)(licen[cs]e|copying)([._-].*)?");

    /**
     * Puts {@code sourceDir/name} at {@code outDir/name}: an absolute symbolic link to it, or with {@code copy} a copy
     * of its content (links inside followed). Whatever {@code outDir/name} held before (a previous export's link or
     * copy) is replaced.
     */
    static void place(Path sourceDir, Path outDir, String name, boolean copy) {
        Path source = sourceDir.resolve(name);
        Path target = outDir.resolve(name);
        try {
            Path real = sourceDir.toRealPath().resolve(name);
            if (!Files.exists(source)) throw new IllegalArgumentException(source + " does not exist");
            if (Files.exists(target) && !Files.isSymbolicLink(target) && Files.isSameFile(source, target)) {
                throw new IllegalArgumentException("cannot export into " + outDir + ": " + target + " is " + source + " itself");
            }
            delete(target);
            if (copy) {
                copyTree(source, target);
            } else {
                Files.createSymbolicLink(target, real);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot " + (copy ? "copy " : "link ") + source + " to " + target
                    + ": " + e.getMessage(), e);
        }
    }

    /** The base's licence files, by name (none when the base has none at its top). */
    static List<String> licences(Path sourceDir) {
        try (Stream<Path> s = Files.list(sourceDir)) {
            return s.filter(p -> LICENCE.matcher(p.getFileName().toString()).matches() && Files.isRegularFile(p))
                    .map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + sourceDir, e);
        }
    }

    /** Copies the base's licence files; returns their names. */
    static List<String> copyLicences(Path sourceDir, Path outDir) {
        List<String> names = licences(sourceDir);
        for (String n : names) place(sourceDir, outDir, n, true);
        return names;
    }

    /** Removes a file, a link (not what it points at) or a directory tree; nothing if absent. */
    static void delete(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) return;
        if (!Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
            Files.delete(p);
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }

    private static void copyTree(Path source, Path target) throws IOException {
        if (!Files.isDirectory(source)) {
            Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
            return;
        }
        List<IOException> failures = new ArrayList<>();
        Files.walkFileTree(source, java.util.Set.of(FileVisitOption.FOLLOW_LINKS), Integer.MAX_VALUE, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                Files.createDirectories(target.resolve(source.relativize(dir).toString()));
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.copy(file, target.resolve(source.relativize(file).toString()), StandardCopyOption.REPLACE_EXISTING);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) {
                failures.add(e);
                return FileVisitResult.CONTINUE;
            }
        });
        if (!failures.isEmpty()) throw failures.get(0);
    }
}
