package fastflux.pruning;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.ModelDir;
import fastflux.world.World;
import fastflux.world.Worlds;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * The model a job starts from, in one of two kinds: a model of a {@link World} (transformer and text encoder: it
 * generates images from prompts, which the world judges) or a bare FLUX.1 transformer checkpoint (its conditioning
 * comes precomputed from a calibration file, and nothing here can draw or judge its images). The kind is read from
 * the directory by the worlds on the classpath ({@link Worlds}).
 */
public final class BaseModel {
    private final Path dir;
    private final FluxModel flux;
    private final World<?> world;
    private final Map<String, String> settings;

    private BaseModel(Path dir, FluxModel flux, World<?> world, Map<String, String> settings) {
        this.dir = dir;
        this.flux = flux;
        this.world = world;
        this.settings = settings;
    }

    /**
     * How a model directory is loaded.
     *
     * @param settings the job's world settings ({@link JobOptions#WORLD}, by name); a bare transformer checkpoint takes none
     * @param dtype what the transformer's weights are held in: FLOAT32, or FLOAT16 for a FLUX.1 checkpoint (a bf16
     *     file is converted tensor by tensor); a world's model loads as its world loads it, in fp32
     */
    public record LoadOptions(Map<String, String> settings, DataType dtype, java.util.List<ai.djl.Device> devices) {
        /** No world settings, fp32, one device. */
        public static final LoadOptions FP32 = new LoadOptions(Map.of(), DataType.FLOAT32);

        public LoadOptions {
            settings = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(
                    java.util.Objects.requireNonNull(settings, "settings")));
            java.util.Objects.requireNonNull(dtype, "dtype");
            devices = java.util.List.copyOf(devices);
        }

        /** On the manager's device only. */
        public LoadOptions(Map<String, String> settings, DataType dtype) {
            this(settings, dtype, java.util.List.of());
        }

        public LoadOptions withSettings(Map<String, String> s) {
            return new LoadOptions(s, dtype, devices);
        }

        public LoadOptions withDtype(DataType d) {
            return new LoadOptions(settings, d, devices);
        }

        /**
         * The transformer split over {@code d} when they are more than one ({@link fastflux.model.BlockPlacement}:
         * block ranges balanced by bytes, embedders on the first device, the final layer on the last). A bare
         * transformer checkpoint reads each weight straight onto its device; a world's transformer is read by its
         * world onto the manager's device (the first) and each range then moved to its own.
         */
        public LoadOptions withDevices(java.util.List<ai.djl.Device> d) {
            return new LoadOptions(settings, dtype, d);
        }
    }

    /**
     * Loads {@code dir}, as a world's model where one recognises it (opened with the options' world settings), else as
     * a bare transformer checkpoint held once in the options' dtype.
     *
     * @throws IllegalArgumentException for fp16 with a world's model, or world settings for a bare transformer
     */
    public static BaseModel load(Path dir, NDManager manager, LoadOptions options) {
        Map<String, String> settings = options.settings();
        DataType dtype = options.dtype();
        java.util.List<ai.djl.Device> devices = options.devices();
        if (dtype != DataType.FLOAT32 && hasWorld(dir)) {
            throw new IllegalArgumentException(dir + " is a world's model, which runs in fp32; --dtype " + dtype
                    + " applies to FLUX.1 transformer checkpoints");
        }
        World<?> w = Worlds.open(dir, manager, settings);
        if (w != null) {
            if (devices.size() > 1) {
                fastflux.model.BlockPlacement placement = fastflux.model.BlockPlacement.of(w.flux(), devices, w.flux().dtype());
                w.flux().place(placement, placement.managers(manager));
            }
            return new BaseModel(dir, w.flux(), w, Map.copyOf(settings));
        }
        if (settings.keySet().stream().anyMatch(k -> !k.equals(fastflux.world.WorldProvider.OUT) && !k.equals(fastflux.world.WorldProvider.EVAL_PROMPTS))) {
            throw new IllegalArgumentException(dir + " is a FLUX.1 transformer checkpoint without text encoders: the "
                    + "options " + String.join(", ", settings.keySet().stream().map(k -> "--" + k).toList())
                    + " are for a FLUX.1 pipeline directory");
        }
        return new BaseModel(dir, ModelDir.load(dir, manager, dtype, Set.of(), devices), null, Map.of());
    }

    /**
     * A fresh copy of the base transformer in fp32 (the report's latency and fidelity baseline): read by
     * {@link ModelDir} where the directory holds a fastflux model, else through its world.
     */
    public FluxModel loadTransformer(NDManager manager) {
        if (world == null || java.nio.file.Files.isRegularFile(dir.resolve("model.safetensors"))) {
            return ModelDir.load(dir, manager, DataType.FLOAT32, Set.of());
        }
        return Worlds.open(dir, manager, settings).flux();
    }

    /** Whether {@code dir} holds a world's model (it can generate and be judged) rather than a bare transformer. */
    public static boolean hasWorld(Path dir) {
        return Worlds.providerOf(dir) != null;
    }

    /** The packed latent grid of a FLUX.1 image of 1024 x 1024 pixels: 64 x 64 tokens. */
    public static final int FLUX_GRID = 64;

    /**
     * Opens a calibration file for this model and checks it against the model: a world's model takes the world's
     * latent grid, a FLUX.1 checkpoint the file's {@code latent_grid} (else 1024² images); without a guidance
     * embedding the file must hold the empty prompt's embeddings for classifier-free guidance.
     */
    public PrecomputedCalibrationSource openCalibrationFile(Path file) {
        FluxParams p = flux.config();
        PrecomputedCalibrationSource source;
        if (world != null) {
            int grid = (int) Math.round(Math.sqrt(world.latentTokens()));
            source = PrecomputedCalibrationSource.open(file, p, grid, grid, world.shiftSchedule());
        } else {
            source = PrecomputedCalibrationSource.open(file, p, FLUX_GRID, p.guidanceEmbed());
        }
        if (!p.guidanceEmbed() && Calibration.Options.defaults().guidance() != 1f && !source.hasUnconditional()) {
            source.close();
            throw new IllegalArgumentException(file + ": the model has no guidance embedding, so calibration uses "
                    + "classifier-free guidance and needs the empty prompt's neg_txt [1, L, " + p.contextInDim()
                    + "] and neg_y [1, " + p.vecInDim() + "]");
        }
        return source;
    }

    public Path dir() {
        return dir;
    }

    /** The transformer. */
    public FluxModel flux() {
        return flux;
    }

    /** Whether this is a world's model (it can generate and be judged) rather than a bare transformer checkpoint. */
    public boolean hasWorld() {
        return world != null;
    }

    /** The world, for {@code what} (named in the error where this is a bare transformer checkpoint). */
    public World<?> world(String what) {
        if (world == null) {
            throw new IllegalArgumentException(what + " generates and judges images, which needs a text encoder; "
                    + dir + " is a FLUX.1 transformer checkpoint without one");
        }
        return world;
    }
}
