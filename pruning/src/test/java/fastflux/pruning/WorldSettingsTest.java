package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A FLUX.1 pipeline's options ({@link JobOptions#WORLD}) on a model of another kind are refused by name. */
class WorldSettingsTest {
    @Test
    void aShapesModelRefusesFluxOptionsByName(@TempDir Path tmp) throws Exception {
        Path base = PruneJobTest.baseModel(tmp.resolve("base"));
        try (NDManager m = NDManager.newBaseManager()) {
            var e = assertThrows(IllegalArgumentException.class, () -> new PruneJob(base, tmp.resolve("out"),
                    PruneJobTest.options(0.34), Map.of("clip", "/nowhere", "width", "64"), PruneJob.Listener.NONE, m));
            assertTrue(e.getMessage().contains("--clip") && e.getMessage().contains("--width"), e.getMessage());
            // the job's output directory and evaluation file are every world's to take or ignore
            assertNotNull(BaseModel.load(base, m, BaseModel.LoadOptions.FP32.withSettings(Map.of(fastflux.world.WorldProvider.OUT,
                    tmp.toString(), fastflux.world.WorldProvider.EVAL_PROMPTS, ""))).world("test"));
        }
    }

    @Test
    void givenWorldOptionsBecomeSettingsByName() {
        OptionValues v = OptionValues.defaults(JobOptions.ALL).with(JobOptions.WIDTH, 512).with(JobOptions.GUIDANCE, 3.5f);
        assertEquals(Map.of("width", "512", "guidance", "3.5"), JobOptions.worldSettings(v));
        assertEquals(Map.of(), JobOptions.worldSettings(OptionValues.defaults(JobOptions.ALL)));
    }
}
