package fastflux.shapes;

import ai.djl.ndarray.NDManager;
import fastflux.model.ModelDir;
import fastflux.world.World;
import fastflux.world.WorldProvider;
import java.nio.file.Path;

/** Recognises a Shapes model directory: its checkpoint carries the text encoder ({@code text_encoder.*}). */
public final class ShapesWorldProvider implements WorldProvider {
    @Override
    public boolean recognises(Path dir) {
        // a FLUX.1 pipeline directory (no model.safetensors) is another world's; ModelDir names a missing checkpoint
        if (java.nio.file.Files.isDirectory(dir) && !java.nio.file.Files.exists(dir.resolve("model.safetensors"))) return false;
        Path weights = ModelDir.weightsFile(dir); // names a directory without a checkpoint
        return ShapesModel.hasTextEncoder(weights);
    }

    @Override
    public World<?> open(Path dir, NDManager m) {
        return ShapesModel.load(dir, m);
    }
}
