package fastflux.model;

import static fastflux.model.PruneTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The trained parts stay fp32 in an fp16 model: the reference fixture loaded in fp16 with fp32 adapters gives the fp32
 * model's prediction within fp16's tolerance, and the adapters' gradients-to-be are fp32.
 */
class Fp16AdapterTest {
    @Test
    void fp32AdaptersOnAnFp16ModelMatchTheFp32ModelWithinFp16Tolerance() {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxInputs in = fixtureInputs(m);
            float[][] preds = new float[2][];
            DataType[] dts = {DataType.FLOAT32, DataType.FLOAT16};
            for (int k = 0; k < 2; k++) {
                FluxModel model = ModelDir.load(FIXTURE, m, dts[k], Set.of());
                Map<String, LoRA> a = new LoraInjector(4, 4f, 3).inject(model, BlockId.ofDouble(1), m);
                for (LoRA l : a.values()) {
                    assertEquals(DataType.FLOAT32, l.a().value().getDataType(), "adapters are fp32 in a " + dts[k] + " model");
                    l.b().set(Tensors.mul(m.ones(l.b().shape(), DataType.FLOAT32), 0.05f));
                }
                preds[k] = model.forward(in).toType(DataType.FLOAT32, false).toFloatArray();
            }
            double err = 0, scale = 0;
            for (int i = 0; i < preds[0].length; i++) {
                err = Math.max(err, Math.abs(preds[0][i] - preds[1][i]));
                scale = Math.max(scale, Math.abs(preds[0][i]));
            }
            assertTrue(scale > 0.1, "the adapters change the output: " + scale);
            assertTrue(err <= 2e-2, "fp16 with fp32 adapters: max abs error " + err + " of outputs up to " + scale);
        }
    }
}
