package fastflux.model.io;

import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/** One line for an I/O failure, in words a user can act on (the JDK's own messages are often just a path). */
public final class IoErrors {
    private IoErrors() {}

    /** "FILE: what went wrong". */
    public static String describe(Exception e) {
        if (e instanceof FileSystemException f && f.getFile() != null) {
            return (f.getOtherFile() == null ? f.getFile() : f.getFile() + " -> " + f.getOtherFile()) + ": " + reason(e);
        }
        return reason(e);
    }

    /** What went wrong, without the file. */
    public static String reason(Exception e) {
        if (e instanceof FileSystemException f) {
            return f instanceof NoSuchFileException ? "no such file or directory"
                    : f instanceof AccessDeniedException ? "permission denied"
                    : f instanceof FileAlreadyExistsException ? "a file is in the way"
                    : f instanceof NotDirectoryException ? "not a directory"
                    : f.getReason() != null ? f.getReason() : f.getClass().getSimpleName();
        }
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }
}
