package fastflux.train;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import fastflux.model.Param;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * An fp16 parameter trained through an fp32 master: steps smaller than fp16's resolution at 1.0 (2⁻¹⁰) accumulate in
 * the master and reach the fp16 value; without the master the same steps round away and the value never moves.
 */
class AdamWMasterTest {
    private static final int STEPS = 20;
    private static final double LR = 1e-4; // an Adam step moves each weight by about lr: a tenth of fp16's spacing at 1

    @Test
    void updatesBelowFp16ResolutionAccumulateInTheMaster() {
        try (NDManager m = NDManager.newBaseManager()) {
            float[] with = train(m, true);
            float[] without = train(m, false);
            for (float x : without) assertEquals(1f, x, 0f, "plain fp16 AdamW: each step rounds away");
            for (float x : with) {
                // 20 steps of about 1e-4 each: 0.998, which fp16 holds to 2.4e-4 there
                assertEquals(1 - STEPS * LR, x, 6e-4, "the master's accumulated update, rounded to fp16");
                assertTrue(x < 1f, "the fp16 value moved: " + x);
            }
        }
    }

    @Test
    void fp32ParametersGetNoMaster() {
        try (NDManager m = NDManager.newBaseManager(); AdamW adam = new AdamW(m, 0.9, 0.999, 1e-8, 0)) {
            Param p = new Param("w", new Shape(4));
            p.set(m.ones(new Shape(4), DataType.FLOAT32));
            adam.keepMaster(p);
            assertTrue(adam.masters().isEmpty());
        }
    }

    private static float[] train(NDManager m, boolean master) {
        Param p = new Param("w", new Shape(8));
        p.set(m.ones(new Shape(8), DataType.FLOAT16));
        try (AdamW adam = new AdamW(m, 0.9, 0.999, 1e-8, 0)) {
            p.value().setRequiresGradient(true);
            if (master) {
                adam.keepMaster(p);
                assertEquals(DataType.FLOAT32, adam.masters().get("w").getDataType());
            }
            for (int s = 0; s < STEPS; s++) {
                try (NDManager sm = m.newSubManager()) {
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray c = sm.ones(new Shape(8), DataType.FLOAT16);
                        gc.backward(p.value().mul(c).sum()); // d/dw = 1: every step lowers w
                    }
                    adam.step(List.of(p), LR, 0);
                }
            }
            assertEquals(DataType.FLOAT16, p.value().getDataType(), "the working copy stays fp16");
            p.value().setRequiresGradient(false);
            return p.value().toType(DataType.FLOAT32, false).toFloatArray();
        }
    }
}
