package fastflux.model;

/**
 * A block of the transformer, named as in the checkpoint ({@code double_blocks.3}, {@code single_blocks.11}).
 * Blocks are ordered as the forward runs them: all double-stream blocks, then all single-stream ones.
 */
public record BlockId(Kind kind, int index) implements Comparable<BlockId> {
    public enum Kind { DOUBLE, SINGLE }

    public BlockId {
        if (index < 0) throw new IllegalArgumentException("block index must be >= 0, got " + index);
    }

    public static BlockId ofDouble(int i) {
        return new BlockId(Kind.DOUBLE, i);
    }

    public static BlockId ofSingle(int i) {
        return new BlockId(Kind.SINGLE, i);
    }

    /** {@code double_blocks.N} or {@code single_blocks.N}. */
    public String name() {
        return (kind == Kind.DOUBLE ? "double_blocks." : "single_blocks.") + index;
    }

    /** Position in forward order for a config. */
    public int position(FluxParams p) {
        return kind == Kind.DOUBLE ? index : p.depth() + index;
    }

    public static BlockId atPosition(int position, FluxParams p) {
        if (position < 0 || position >= p.blockCount()) {
            throw new IllegalArgumentException("block position " + position + " out of range 0.." + (p.blockCount() - 1));
        }
        return position < p.depth() ? ofDouble(position) : ofSingle(position - p.depth());
    }

    /** Parses {@code double_blocks.N} / {@code single_blocks.N}, checking N against the config. */
    public static BlockId parse(String s, FluxParams p) {
        String[] parts = s.trim().split("\\.");
        if (parts.length != 2 || !(parts[0].equals("double_blocks") || parts[0].equals("single_blocks"))) {
            throw new IllegalArgumentException("unknown block '" + s + "': expected double_blocks.N or single_blocks.N");
        }
        int n;
        try {
            n = Integer.parseInt(parts[1]);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("unknown block '" + s + "': index is not a number");
        }
        boolean dbl = parts[0].equals("double_blocks");
        int limit = dbl ? p.depth() : p.depthSingleBlocks();
        if (n < 0 || n >= limit) {
            throw new IllegalArgumentException("unknown block '" + s + "': this model has " + limit + " " + parts[0]);
        }
        return new BlockId(dbl ? Kind.DOUBLE : Kind.SINGLE, n);
    }

    @Override
    public int compareTo(BlockId o) {
        if (kind != o.kind) return kind == Kind.DOUBLE ? -1 : 1;
        return Integer.compare(index, o.index);
    }

    @Override
    public String toString() {
        return name();
    }
}
