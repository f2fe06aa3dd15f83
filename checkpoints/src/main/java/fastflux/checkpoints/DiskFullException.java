package fastflux.checkpoints;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * A write failed because its file system is full. The message names the file, says "no space left on device" and,
 * where the file system answers, which one it is and how many bytes it has free: a full disk stays full until
 * someone frees space, so the error is for a person to act on, not for a retry.
 */
public final class DiskFullException extends UncheckedIOException {
    /** The operating system's words for ENOSPC, as the JDK passes them on in an IOException's message. */
    private static final String ENOSPC = "no space left on device";

    public DiskFullException(String message, IOException cause) {
        super(message, cause);
    }

    /** {@code file: no space left on device (file system NAME: N bytes free)}. */
    static DiskFullException writing(Path file, IOException cause) {
        return new DiskFullException(file + ": " + ENOSPC + fileSystem(file), cause);
    }

    /** The same failure, its message prefixed with what was being written ({@code "cannot write checkpoint 4: "}). */
    public DiskFullException during(String what) {
        return new DiskFullException(what + ": " + getMessage(), getCause());
    }

    /** Whether {@code e} or one of its causes is a full file system. */
    public static boolean isNoSpace(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof DiskFullException) return true;
            String m = t.getMessage();
            if (m != null && m.toLowerCase(Locale.ROOT).contains(ENOSPC)) return true;
            if (t.getCause() == t) break;
        }
        return false;
    }

    /** " (file system NAME: N bytes free)" for the file system that holds {@code file}, or "" when it cannot be asked. */
    private static String fileSystem(Path file) {
        Path p = file.toAbsolutePath();
        while (p != null && !Files.exists(p)) p = p.getParent();
        if (p == null) return "";
        try {
            FileStore store = Files.getFileStore(p);
            return " (file system " + store.name() + ": " + store.getUsableSpace() + " bytes free)";
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }
}
