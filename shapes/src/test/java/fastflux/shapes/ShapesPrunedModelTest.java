package fastflux.shapes;

import static fastflux.model.PruneTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import fastflux.model.BlockId;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.LoraInjector;
import fastflux.model.ModelDir;
import fastflux.model.Param;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import fastflux.model.io.SafetensorsReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A pruned Shapes model: exported beside its base, it loads (text encoder included) to the same velocities. */
class ShapesPrunedModelTest {
    static final List<Replacement> PLAN = List.of(Replacement.linear(BlockId.ofDouble(1)),
            Replacement.delete(BlockId.ofSingle(0)));

    @TempDir
    Path tmp;

    static ShapesModel tiny(NDManager m) {
        FluxModel flux = new FluxModel(FluxParams.named(ShapesModel.CONFIG).withDepth(2, 2));
        flux.initRandom(m, DataType.FLOAT32, 5);
        TextEncoder text = new TextEncoder(flux.config().contextInDim());
        long seed = 50;
        for (Param p : text.params().values()) p.set(random(m, p.shape(), seed++, 1f));
        return new ShapesModel(flux, text);
    }

    static float[] velocity(ShapesModel model, NDManager m) {
        NDArray x = ShapesModel.noise(new long[] {1, 2}, m);
        fastflux.world.World.Conditioning c = model.condition(List.of(TestPrompts.dev().get(0).text(), ""), m);
        return model.velocity(x, m.full(new Shape(2), 0.7f), c).toFloatArray();
    }

    @Test
    void exportedPrunedShapesModelLoadsToTheSameVelocities() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = tiny(m);
            Path base = tmp.resolve("base");
            model.save(base);
            PrunedModels.apply(model.flux(), PLAN);
            fitRandomly(model.flux(), m, 7);
            new LoraInjector(4, 4f, 1).inject(model.flux(), BlockId.ofDouble(0), m);
            perturbAdapters(model.flux(), m, 8);

            Path out = tmp.resolve("pruned");
            model.exportPruned(base, out);
            ShapesModel loaded = ShapesModel.load(out, m);
            assertEquals(PLAN, PrunedModels.replacements(loaded.flux()));
            LoraInjector.merge(model.flux(), BlockId.ofDouble(0));
            assertArrayEquals(velocity(model, m), velocity(loaded, m));

            JsonObject cfg = ModelDir.readConfig(out);
            assertEquals("fastflux-shapes", cfg.get("model_type").getAsString());
            assertEquals(ModelDir.readConfig(base).get("sampling"), cfg.get("sampling"));
            try (SafetensorsReader r = SafetensorsReader.open(out.resolve("model.safetensors"))) {
                assertTrue(r.contains("text_encoder.token_embedding.weight"));
                assertTrue(r.contains("double_blocks.1.img_linear.weight"));
                assertFalse(r.names().stream().anyMatch(n -> n.startsWith("single_blocks.0.")), "a deleted block stores nothing");
                assertFalse(r.contains("double_blocks.1.img_attn.qkv.weight"), "the heavy weights are gone");
            }
            assertTrue(Files.size(out.resolve("model.safetensors")) < Files.size(base.resolve("model.safetensors")));

            // A pruned model's own save round-trips too (its "replaced" list is written).
            Path saved = tmp.resolve("saved");
            model.save(saved);
            assertArrayEquals(velocity(model, m), velocity(ShapesModel.load(saved, m), m));
        }
    }

    @Test
    void fullShapesDirectoryStillLoads() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = tiny(m);
            Path base = tmp.resolve("base");
            model.save(base);
            assertFalse(ModelDir.readConfig(base).has(PrunedModels.REPLACED), "a full model's config is as before");
            assertArrayEquals(velocity(model, m), velocity(ShapesModel.load(base, m), m));
        }
    }
}
