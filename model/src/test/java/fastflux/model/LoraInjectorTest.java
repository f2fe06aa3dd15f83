package fastflux.model;

import static fastflux.model.PruneTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** LoRA on the linear layers of kept blocks: a fresh adapter is a no-op, a trained one merges exactly. */
class LoraInjectorTest {
    static final BlockId D0 = BlockId.ofDouble(0);
    static final BlockId S1 = BlockId.ofSingle(1);

    static FluxModel tinyModel(NDManager m) {
        FluxModel model = new FluxModel(FluxParams.named("flux-tiny-a"));
        model.initRandom(m, DataType.FLOAT32, 7);
        return model;
    }

    @Test
    void freshAdaptersLeaveOutputsUnchanged() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = tinyModel(m);
            FluxInputs in = fixtureInputs(m);
            float[] before = forward(model, in);
            LoraInjector inj = new LoraInjector(4, 8f, 1);
            Map<String, LoRA> d0 = inj.inject(model, D0, m);
            inj.inject(model, S1, m);
            assertEquals(10, d0.size(), "every linear of a double block");
            assertEquals(2f, d0.get("double_blocks.0.img_attn.qkv.").scale(), "scale = alpha / rank");
            assertArrayEquals(before, forward(model, in), "B = 0: the adapters add exactly nothing");
        }
    }

    @Test
    void trainableParametersAreListedByName() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = tinyModel(m);
            new LoraInjector(2, 2f, 1).inject(model, S1, m);
            List<String> expected = new ArrayList<>();
            for (String l : List.of("modulation.lin.", "linear1.", "linear2.")) {
                expected.add("single_blocks.1." + l + "lora_A");
                expected.add("single_blocks.1." + l + "lora_B");
            }
            assertEquals(expected, List.copyOf(LoraInjector.trainableParams(model, S1).keySet()));
            assertEquals(expected, List.copyOf(LoraInjector.trainableParams(model).keySet()));
            assertTrue(LoraInjector.trainableParams(model, D0).isEmpty());
            assertEquals(new ai.djl.ndarray.types.Shape(2, 64),
                    LoraInjector.trainableParams(model).get("single_blocks.1.linear1.lora_A").shape());
        }
    }

    @Test
    void anExistingAdapterIsKeptNotStacked() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = tinyModel(m);
            Map<String, LoRA> first = new LoraInjector(4, 4f, 1).inject(model, D0, m);
            Map<String, LoRA> second = new LoraInjector(8, 16f, 2).inject(model, D0, m);
            for (String k : first.keySet()) assertSame(first.get(k), second.get(k), k);
            assertEquals(4, second.get("double_blocks.0.txt_mlp.2.").rank());
        }
    }

    @Test
    void trainedAdapterChangesOutputsAndMergesToTheSameOutputs() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = tinyModel(m);
            FluxInputs in = fixtureInputs(m);
            float[] base = forward(model, in);
            LoraInjector inj = new LoraInjector(4, 8f, 3);
            inj.inject(model, D0, m);
            inj.inject(model, S1, m);
            perturbAdapters(model, m, 11);
            float[] adapted = forward(model, in);
            assertTrue(maxAbsDiff(base, adapted) > 1e-3, "a nonzero B changes the outputs");

            LoraInjector.merge(model, D0);
            LoraInjector.merge(model, S1);
            assertTrue(LoraInjector.trainableParams(model).isEmpty(), "merging removes the adapters");
            double err = maxAbsDiff(adapted, forward(model, in));
            assertTrue(err <= 1e-5, "merged weights give the adapter's outputs, max abs error " + err);
        }
    }

    @Test
    void removingAdaptersRestoresTheBlock() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = tinyModel(m);
            FluxInputs in = fixtureInputs(m);
            float[] base = forward(model, in);
            new LoraInjector(4, 8f, 3).inject(model, D0, m);
            perturbAdapters(model, m, 5);
            LoraInjector.remove(model, D0);
            assertArrayEquals(base, forward(model, in));
        }
    }

    @Test
    void replacedBlocksTakeNoAdapter() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = tinyModel(m);
            PrunedModels.apply(model, List.of(Replacement.linear(D0), Replacement.delete(S1)));
            LoraInjector inj = new LoraInjector(4, 8f, 3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> inj.inject(model, D0, m));
            assertTrue(e.getMessage().contains("double_blocks.0 is not a kept block"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> inj.inject(model, S1, m));
            assertThrows(IllegalArgumentException.class, () -> inj.inject(model, BlockId.ofSingle(3), m));
            assertThrows(IllegalArgumentException.class, () -> new LoraInjector(0, 1f, 0));
        }
    }
}
