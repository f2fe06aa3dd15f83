package fastflux.cli;

/** A command-line mistake found while a command runs: printed with the command's usage, exit status 2. */
final class UsageException extends RuntimeException {
    UsageException(String message) {
        super(message);
    }
}
