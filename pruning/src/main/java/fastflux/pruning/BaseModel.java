package fastflux.pruning;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.ModelDir;
import fastflux.shapes.Latents;
import fastflux.shapes.ShapesModel;
import java.nio.file.Path;
import java.util.Set;

/**
 * The model a job starts from, in one of two kinds: a Shapes model (transformer and text encoder: it generates
 * images from prompts, which the judge scores) or a FLUX.1 transformer checkpoint (no text encoder: its conditioning
 * comes precomputed from a calibration file, and nothing here can draw or judge its images). The kind is read from
 * the checkpoint itself: a Shapes model carries {@code text_encoder.*} tensors.
 */
public final class BaseModel {
    private final Path dir;
    private final FluxModel flux;
    private final ShapesModel shapes;

    private BaseModel(Path dir, FluxModel flux, ShapesModel shapes) {
        this.dir = dir;
        this.flux = flux;
        this.shapes = shapes;
    }

    /** Loads {@code dir} in fp32, as a Shapes model where it carries a text encoder. */
    public static BaseModel load(Path dir, NDManager manager) {
        if (isShapes(dir)) {
            ShapesModel s = ShapesModel.load(dir, manager);
            return new BaseModel(dir, s.flux(), s);
        }
        return new BaseModel(dir, ModelDir.load(dir, manager, DataType.FLOAT32, Set.of()), null);
    }

    /** Whether {@code dir} holds a Shapes model: its checkpoint carries a text encoder, a FLUX.1 one does not. */
    public static boolean isShapes(Path dir) {
        return ShapesModel.hasTextEncoder(ModelDir.weightsFile(dir));
    }

    /** The packed latent grid of a FLUX.1 image of 1024 x 1024 pixels: 64 x 64 tokens. */
    public static final int FLUX_GRID = 64;

    /**
     * Opens a calibration file for this model and checks it against the model: a Shapes model's
     * latent grid is its own, a FLUX.1 checkpoint's the file's {@code latent_grid} (else 1024² images); without a
     * guidance embedding the file must hold the empty prompt's embeddings for classifier-free guidance.
     */
    public PrecomputedCalibrationSource openCalibrationFile(Path file) {
        FluxParams p = flux.config();
        PrecomputedCalibrationSource source = isShapes()
                ? PrecomputedCalibrationSource.open(file, p, Latents.GRID, Latents.GRID, true)
                : PrecomputedCalibrationSource.open(file, p, FLUX_GRID, p.guidanceEmbed());
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

    /** Whether this is a Shapes model (it can generate and be judged) rather than a FLUX.1 transformer checkpoint. */
    public boolean isShapes() {
        return shapes != null;
    }

    /** The Shapes model, for {@code what} (named in the error where this is a FLUX.1 transformer checkpoint). */
    public ShapesModel shapes(String what) {
        if (shapes == null) {
            throw new IllegalArgumentException(what + " generates and judges Shapes images, which needs a text encoder; "
                    + dir + " is a FLUX.1 transformer checkpoint without one");
        }
        return shapes;
    }
}
