package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.Param;
import fastflux.model.ShortcutSingleBlock;
import fastflux.model.Tensors;
import fastflux.shapes.ShapesModel;
import org.junit.jupiter.api.Test;

class OutputFidelityTest {
    private static Calibration calibration(ShapesModel base, int batch, int steps) {
        return new Calibration(base.flux(), PromptCalibrationSource.sample(base, 5, 11),
                new Calibration.Options(batch, new long[] {100, 101}, steps, 4f));
    }

    @Test
    void theBaseModelAgainstItselfIsExactlyZero() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel base = TinyShapes.model(m, 1);
            ShapesModel same = TinyShapes.model(m, 1);
            OutputFidelity.Result r = OutputFidelity.measure(same.flux(), calibration(base, 4, 3));
            assertEquals(0.0, r.stepError());
            assertEquals(0.0, r.latentError());
            assertEquals(3, r.perStep().length);
            assertEquals(10, r.items());
        }
    }

    @Test
    void anOutputScaledBySIsOffByExactlySMinusOneSquaredAtEveryStep() {
        // the output layer scaled by s scales both guidance halves, so the guided velocity: v_pruned = s · v_base
        float s = 1.1f;
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel base = TinyShapes.model(m, 1);
            FluxModel scaled = TinyShapes.model(m, 1).flux();
            for (String name : new String[] {"final_layer.linear.weight", "final_layer.linear.bias"}) {
                Param p = scaled.params().get(name);
                p.set(Tensors.mul(p.value(), s));
            }
            OutputFidelity.Result r = OutputFidelity.measure(scaled, calibration(base, 4, 3));
            double expected = (s - 1.0) * (s - 1.0);
            for (double e : r.perStep()) assertEquals(expected, e, expected * 1e-4);
            assertEquals(expected, r.stepError(), expected * 1e-4);
            assertTrue(r.latentError() > 0);
        }
    }

    @Test
    void aBlockSwitchedOffShowsAndBatchingDoesNotChangeTheFigures() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel base = TinyShapes.model(m, 1);
            FluxModel pruned = TinyShapes.model(m, 1).flux();
            pruned.setSingle(1, new ShortcutSingleBlock("single_blocks.1."));
            OutputFidelity.Result a = OutputFidelity.measure(pruned, calibration(base, 3, 2));
            OutputFidelity.Result b = OutputFidelity.measure(pruned, calibration(base, 10, 2));
            assertTrue(a.stepError() > 1e-4, "a block switched off changes the output: " + a.stepError());
            assertTrue(a.latentError() > 1e-4, "and the final latents: " + a.latentError());
            assertEquals(a.stepError(), b.stepError(), a.stepError() * 1e-5);
            assertEquals(a.latentError(), b.latentError(), a.latentError() * 1e-5);
            assertEquals(a.perStep()[0], b.perStep()[0], a.perStep()[0] * 1e-5);
        }
    }

    @Test
    void anotherConfigIsRefusedNamingBoth() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel base = TinyShapes.model(m, 1);
            FluxParams p = TinyShapes.PARAMS;
            FluxParams deeper = new FluxParams(p.inChannels(), p.outChannels(), p.vecInDim(), p.contextInDim(), p.hiddenSize(),
                    p.mlpRatio(), p.numHeads(), p.depth(), p.depthSingleBlocks() + 1, p.axesDim(), p.theta(), p.qkvBias(),
                    p.guidanceEmbed());
            FluxModel other = TinyShapes.model(deeper, m, 1).flux();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> OutputFidelity.measure(other, calibration(base, 4, 2)));
            assertTrue(e.getMessage().contains("config differs"), e.getMessage());
        }
    }
}
