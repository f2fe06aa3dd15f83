package fastflux.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The fp16 residual stream is clamped to ±65504 (Nn.addResidual), so overflowing activations stay finite. */
class Fp16ClampTest {
    static final FluxParams P = new FluxParams(8, 8, 8, 8, 32, 2.0, 2, 1, 2, new int[] {4, 6, 6}, 10_000, true, false);

    @Test
    void addResidualClampsOnlyInFp16() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {60000f, -60000f, 1f}).toType(DataType.FLOAT16, false);
            NDArray f = m.create(new float[] {10000f, -10000f, 2f}).toType(DataType.FLOAT16, false);
            assertTrue(x.add(f).isInfinite().any().getBoolean(), "a plain fp16 add overflows");
            assertArrayEquals(new float[] {65504f, -65504f, 3f},
                    Nn.addResidual(x, f).toType(DataType.FLOAT32, false).toFloatArray());
            NDArray x32 = x.toType(DataType.FLOAT32, false);
            assertEquals(70000f, Nn.addResidual(x32, f.toType(DataType.FLOAT32, false)).getFloat(0), "fp32 is not clamped");
        }
    }

    /** Same random weights, with single_blocks.0's gate pushed to 300 and linear2 scaled by 1000. */
    static FluxModel overflowing(NDManager m, DataType dt) {
        FluxModel model = new FluxModel(P);
        model.initRandom(m, dt, 3);
        Param w2 = model.params().get("single_blocks.0.linear2.weight");
        w2.set(w2.value().mul(1000f));
        Param modBias = model.params().get("single_blocks.0.modulation.lin.bias"); // [shift | scale | gate]
        float[] b = modBias.value().toType(DataType.FLOAT32, false).toFloatArray();
        for (int i = 2 * P.hiddenSize(); i < 3 * P.hiddenSize(); i++) b[i] = 300f;
        modBias.set(m.create(b).toType(dt, false));
        return model;
    }

    /** The outputs of single_blocks.0 and the plain (unclamped) fp16 sum x + f(x) of that block. */
    static List<NDArray> run(FluxModel model, FluxInputs in) {
        List<NDArray> out = new ArrayList<>();
        NDArray vec = model.vec(in);
        Rope pe = model.rope(in);
        NDManager owner = vec.getManager();
        NDArray pred = model.forward(in, new BlockTap() {
            @Override
            public void singleBlock(int i, NDArray x, NDArray y) {
                if (i != 0) return;
                // what a tap makes lives until the block ends: keep these in the caller's manager
                out.add(keep(y.toType(DataType.FLOAT32, true), owner));
                NDArray plain = x.add(model.singleBlocks().get(0).residual(x, vec, pe));
                out.add(keep(plain.toType(DataType.FLOAT32, true), owner));
            }
        });
        out.add(pred);
        return out;
    }

    private static NDArray keep(NDArray a, NDManager owner) {
        a.attach(owner);
        return a;
    }

    static float maxAbs(NDArray a) {
        return a.abs().max().getFloat();
    }

    static boolean allFinite(NDArray a) {
        return a.isInfinite().logicalOr(a.isNaN()).none().getBoolean();
    }

    @Test
    void overflowingResidualStreamStaysFiniteInFp16() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxInputs in = FluxInputs.random(P, m, 2, 10, 4, 1);
            List<NDArray> r32 = run(overflowing(m, DataType.FLOAT32), in);
            assertTrue(maxAbs(r32.get(0)) > 2 * Nn.FP16_MAX,
                    "the fp32 stream after single_blocks.0 exceeds the fp16 range: " + maxAbs(r32.get(0)));

            List<NDArray> r16 = run(overflowing(m, DataType.FLOAT16), in);
            assertFalse(allFinite(r16.get(1)), "without the clamp, x + f(x) overflows to inf in fp16");
            assertTrue(allFinite(r16.get(0)), "with the clamp the block output is finite");
            assertEquals(Nn.FP16_MAX, maxAbs(r16.get(0)), "and saturates at the fp16 maximum");
            assertTrue(allFinite(r16.get(2)), "the prediction is finite");
        }
    }
}
