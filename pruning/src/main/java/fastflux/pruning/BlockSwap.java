package fastflux.pruning;

import fastflux.model.BlockId;
import fastflux.model.DoubleStreamLayer;
import fastflux.model.FluxModel;
import fastflux.model.ShortcutDoubleBlock;
import fastflux.model.ShortcutSingleBlock;
import fastflux.model.SingleStreamLayer;

/**
 * Switches one block's residual branch off ({@code Y = X}) for as long as the swap is open, then puts the
 * original layer back: {@code try (BlockSwap s = BlockSwap.shortcut(model, id)) { ... }}.
 */
public final class BlockSwap implements AutoCloseable {
    private final FluxModel model;
    private final BlockId block;
    private final DoubleStreamLayer oldDouble;
    private final SingleStreamLayer oldSingle;
    private boolean closed;

    private BlockSwap(FluxModel model, BlockId block, DoubleStreamLayer d, SingleStreamLayer s) {
        this.model = model;
        this.block = block;
        this.oldDouble = d;
        this.oldSingle = s;
    }

    public static BlockSwap shortcut(FluxModel model, BlockId block) {
        String prefix = block.name() + ".";
        return block.kind() == BlockId.Kind.DOUBLE
                ? new BlockSwap(model, block, model.setDouble(block.index(), new ShortcutDoubleBlock(prefix)), null)
                : new BlockSwap(model, block, null, model.setSingle(block.index(), new ShortcutSingleBlock(prefix)));
    }

    /** Every block of the model, in forward order (double first, then single). */
    public static java.util.List<BlockId> allBlocks(FluxModel model) {
        java.util.List<BlockId> out = new java.util.ArrayList<>();
        for (int i = 0; i < model.config().blockCount(); i++) out.add(BlockId.atPosition(i, model.config()));
        return out;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (oldDouble != null) model.setDouble(block.index(), oldDouble);
        else model.setSingle(block.index(), oldSingle);
    }
}
