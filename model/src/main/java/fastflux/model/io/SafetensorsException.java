package fastflux.model.io;

import java.nio.file.Path;

/** A safetensors file could not be read or written; the message names the file and, where relevant, the tensor. */
public final class SafetensorsException extends RuntimeException {

    public SafetensorsException(Path file, String message) {
        super(file + ": " + message);
    }

    public SafetensorsException(Path file, String message, Throwable cause) {
        super(file + ": " + message, cause);
    }

    /** For a problem with one tensor. */
    static SafetensorsException tensor(Path file, String tensor, String message) {
        return new SafetensorsException(file, "tensor '" + tensor + "': " + message);
    }
}
