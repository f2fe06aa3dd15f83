package fastflux.model.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Checks, before any work, that a command's output can be written: a run that finds out at its end has wasted
 * everything before. A missing directory is created (the command would create it anyway).
 */
public final class OutputPaths {
    private OutputPaths() {}

    /** {@code dir} exists or is made, and takes files; else an IllegalArgumentException that starts with {@code what dir}. */
    public static Path requireWritableDir(Path dir, String what) {
        String why = unwritable(dir);
        if (why != null) throw new IllegalArgumentException(what + " " + dir + " cannot be written: " + why);
        return dir;
    }

    /** {@code file} is not a directory, and its directory exists or is made and takes files. */
    public static Path requireWritableFile(Path file, String what) {
        if (Files.isDirectory(file)) throw new IllegalArgumentException(what + " " + file + " is a directory, not a file");
        Path parent = file.toAbsolutePath().getParent();
        String why = parent == null ? null : unwritable(parent);
        if (why != null) throw new IllegalArgumentException(what + " " + file + " cannot be written: its directory " + why);
        return file;
    }

    private static Path nearestExisting(Path dir) {
        for (Path p = dir.toAbsolutePath().normalize(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p)) return p;
        }
        return null;
    }

    private static String fileSystemType(Path p) {
        try {
            return Files.getFileStore(p).type();
        } catch (IOException | SecurityException e) {
            return null;
        }
    }

    /** Why files cannot be made in {@code dir}, or null when they can. */
    private static String unwritable(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (java.nio.file.NoSuchFileException e) {
            // mkdir answers "no such file" on a file system that takes no new entries (/proc): name that instead
            Path existing = nearestExisting(dir);
            if (existing != null) {
                String type = fileSystemType(existing);
                return "cannot be made: " + existing + " does not take new directories"
                        + (type == null ? "" : " (a " + type + " file system)");
            }
            return "cannot be made (" + IoErrors.describe(e) + ")";
        } catch (IOException | SecurityException e) {
            return "cannot be made (" + IoErrors.describe(e) + ")";
        }
        try {
            Files.delete(Files.createTempFile(dir, ".write-check", ".tmp"));
            return null;
        } catch (IOException | SecurityException e) {
            return dir + " does not take files (" + IoErrors.reason(e) + ")";
        }
    }
}
