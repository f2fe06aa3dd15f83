package fastflux.pipeline.export;

import fastflux.pipeline.layout.FluxCheckpoint.Layout;
import fastflux.world.World;

/**
 * How {@link FluxExport#write} writes an export.
 *
 * @param layout the layout to read the source in, and so to write the export in; null: the one recognised
 *     ({@link fastflux.pipeline.layout.FluxCheckpoint#open}; a BFL release folder that also holds diffusers folders
 *     is read as diffusers unless {@code BFL} is given)
 * @param copy copy the components the export does not change (autoencoder, text encoders, tokenizers, scheduler,
 *     {@code model_index.json}) instead of linking them: a copy survives the base's removal, a link costs no disk
 * @param maxShardBytes the largest diffusers shard in bytes, as diffusers' {@code max_shard_size} (a tensor larger than
 *     it gets a shard of its own); diffusers' default is 10 GB
 * @param baseModel the base model's name for the model card, e.g. {@code black-forest-labs/FLUX.1-dev}; null: the
 *     source directory's name
 */
public record ExportOptions(Layout layout, boolean copy, long maxShardBytes, String baseModel) {
    /** diffusers' {@code max_shard_size} default, "10GB". */
    public static final long DEFAULT_MAX_SHARD_BYTES = World.ExportChoices.DEFAULT.maxShardBytes();

    public ExportOptions {
        if (maxShardBytes < 1) throw new IllegalArgumentException("the largest shard must be at least 1 byte, got " + maxShardBytes);
    }

    /** The source's layout recognised, components linked, 10 GB shards, the card naming the source directory. */
    public static ExportOptions defaults() {
        return new ExportOptions(null, false, DEFAULT_MAX_SHARD_BYTES, null);
    }

    /** A job's choices ({@link World#exportPruned(java.nio.file.Path, java.nio.file.Path, World.ExportChoices)}). */
    public static ExportOptions of(World.ExportChoices c) {
        return defaults().withCopy(c.copy()).withMaxShardBytes(c.maxShardBytes());
    }

    public ExportOptions withLayout(Layout l) {
        return new ExportOptions(l, copy, maxShardBytes, baseModel);
    }

    public ExportOptions withCopy(boolean c) {
        return new ExportOptions(layout, c, maxShardBytes, baseModel);
    }

    public ExportOptions withMaxShardBytes(long b) {
        return new ExportOptions(layout, copy, b, baseModel);
    }

    public ExportOptions withBaseModel(String name) {
        return new ExportOptions(layout, copy, maxShardBytes, name);
    }
}
