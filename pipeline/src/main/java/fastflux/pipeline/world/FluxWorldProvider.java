package fastflux.pipeline.world;

import ai.djl.ndarray.NDManager;
import fastflux.pipeline.layout.FluxCheckpoint;
import fastflux.world.PromptSets;
import fastflux.world.World;
import fastflux.world.WorldProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Recognises a FLUX.1 pipeline directory: a diffusers or BFL checkpoint ({@link FluxCheckpoint}) with its text encoders
 * and tokenizers beside it ({@code text_encoder/}, {@code text_encoder_2/}, {@code tokenizer/}, {@code tokenizer_2/}).
 * A bare transformer checkpoint (no text encoders) is not a world: it prunes from a calibration file.
 */
public final class FluxWorldProvider implements WorldProvider {
    @Override
    public boolean recognises(Path dir) {
        if (!Files.isDirectory(dir)) return false;
        for (String part : List.of("text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2")) {
            if (!Files.isDirectory(dir.resolve(part))) return false;
        }
        try {
            FluxCheckpoint.Layout l = FluxCheckpoint.open(dir).layout();
            return l == FluxCheckpoint.Layout.DIFFUSERS || l == FluxCheckpoint.Layout.BFL;
        } catch (RuntimeException notFlux) {
            return false;
        }
    }

    @Override
    public World<?> open(Path dir, NDManager m) {
        return open(dir, m, Map.of());
    }

    @Override
    public World<?> open(Path dir, NDManager m, Map<String, String> settings) {
        return FluxWorld.open(dir, FluxWorldSettings.of(settings), m);
    }

    @Override
    public PromptSets promptSets() {
        return new PromptSets() {
            @Override
            public List<String> read(Path file) throws IOException {
                return PromptFiles.read(file).stream().map(PromptFiles.Prompt::text).toList();
            }

            @Override
            public List<String> evaluation(int n, long seed) {
                return DefaultPrompts.get().evaluation(n, seed);
            }

            @Override
            public String describeEvaluation(int n, long seed) {
                return n + " prompts of the GenEval + PartiPrompts evaluation set (seed " + seed + ")";
            }
        };
    }
}
