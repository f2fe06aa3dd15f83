package fastflux.pruning;

/** The regularised normal matrix of a block's least-squares fit has no Cholesky factor. */
public final class NotPositiveDefiniteException extends IllegalStateException {
    private final String blockName;

    public NotPositiveDefiniteException(String blockName, String message) {
        super(message);
        this.blockName = blockName;
    }

    public String blockName() {
        return blockName;
    }
}
