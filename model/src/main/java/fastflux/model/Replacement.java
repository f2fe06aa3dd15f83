package fastflux.model;

/**
 * What pruning put in one block's slot: {@link Mode#LINEAR} keeps the shortcut and replaces the residual
 * branch by a linear layer (BRLL, paper §3.1); {@link Mode#DELETE} keeps the shortcut only ({@code Y = X}).
 * In a pruned directory's {@code config.json} it is {@code {"block": "double_blocks.3", "kind": "double",
 * "mode": "linear"}}.
 */
public record Replacement(BlockId block, Mode mode) {
    public enum Mode {
        LINEAR, DELETE;

        /** The JSON spelling: {@code linear}, {@code delete}. */
        public String jsonName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public Replacement {
        if (block == null || mode == null) throw new IllegalArgumentException("a replacement needs a block and a mode");
    }

    public static Replacement linear(BlockId block) {
        return new Replacement(block, Mode.LINEAR);
    }

    public static Replacement delete(BlockId block) {
        return new Replacement(block, Mode.DELETE);
    }

    /** The JSON spelling of the block's kind: {@code double}, {@code single}. */
    public String kindName() {
        return block.kind().name().toLowerCase(java.util.Locale.ROOT);
    }
}
