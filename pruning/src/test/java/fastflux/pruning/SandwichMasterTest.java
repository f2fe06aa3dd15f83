package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.BlockId;
import fastflux.model.FluxModel;
import fastflux.model.Param;
import fastflux.model.ReplacedSingleBlock;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * In an fp16 model a sandwich's trained linears get fp32 masters (AdamW updates those and refreshes the fp16 values);
 * the adapters are fp32 already and the frozen weights stay fp16 without one. In fp32 nothing gets a master.
 */
class SandwichMasterTest {
    @Test
    void onlyTheTrainedFp16LinearsGetFp32Masters(@TempDir Path tmp) {
        for (DataType dt : new DataType[] {DataType.FLOAT16, DataType.FLOAT32}) {
            try (NDManager m = NDManager.newBaseManager()) {
                FluxModel model = new FluxModel(SandwichTrainerTest.SIX);
                model.initRandom(m, dt, 11);
                BlockId block = BlockId.ofSingle(0);
                ReplacedSingleBlock r = new ReplacedSingleBlock(block.name() + ".", SandwichTrainerTest.H);
                BlockFitter.setLinear(r.linear(), SandwichTrainerTest.small(3), m, dt);
                model.setSingle(block.index(), r);
                SandwichTrainer.Sandwich s = SandwichTrainer.plan(model, block, 3);
                Map<String, NDArray> frozenBefore = new java.util.HashMap<>();
                model.params().forEach((k, p) -> frozenBefore.put(k, p.value()));
                try (SandwichTrainer.Session session = new SandwichTrainer.Session(model, s, SandwichTrainerTest.options(tmp), m)) {
                    Map<String, NDArray> masters = session.masters();
                    if (dt == DataType.FLOAT32) {
                        assertTrue(masters.isEmpty(), "fp32: no masters " + masters.keySet());
                        continue;
                    }
                    Set<String> linears = new TreeSet<>(r.params().keySet());
                    assertEquals(linears, masters.keySet(), "masters for the trained linears only");
                    for (Map.Entry<String, NDArray> e : masters.entrySet()) {
                        Param p = r.params().get(e.getKey());
                        assertEquals(DataType.FLOAT32, e.getValue().getDataType());
                        assertEquals(DataType.FLOAT16, p.value().getDataType(), "the working copy stays fp16");
                        assertArrayEquals(p.value().toType(DataType.FLOAT32, false).toFloatArray(), e.getValue().toFloatArray(),
                                "the master starts at the fitted value");
                    }
                    for (Map.Entry<String, Param> e : session.trained().entrySet()) {
                        if (e.getKey().contains(".lora_")) assertEquals(DataType.FLOAT32, e.getValue().value().getDataType(), e.getKey());
                    }
                    for (Param p : model.params().values()) {
                        if (linears.contains(p.name())) continue;
                        assertEquals(DataType.FLOAT16, p.value().getDataType(), p.name() + " frozen, in the compute dtype only");
                        assertSame(frozenBefore.get(p.name()), p.value(), p.name() + " untouched");
                    }
                }
            }
        }
    }
}
