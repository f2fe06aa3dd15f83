package fastflux.pipeline.vae;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;

class AutoEncoderParamsTest {
    @Test
    void diffusersConfigMapsToTheBflParams() throws IOException {
        JsonObject diffusers = JsonParser.parseString(Files.readString(AutoEncoderTest.DIFFUSERS_VAE.resolve("config.json"))).getAsJsonObject();
        assertEquals(AutoEncoderTest.pipelineParams(), AutoEncoderParams.fromDiffusersConfig(diffusers));
        assertEquals(AutoEncoderParams.named("tiny"), AutoEncoderTest.pipelineParams());
    }

    @Test
    void jsonRoundTrip() throws IOException {
        AutoEncoderParams p = AutoEncoderTest.tinyParams();
        assertEquals(p, AutoEncoderParams.fromJson(p.toJson()));
        assertEquals(4, p.downsamplingFactor());
        assertEquals(8, AutoEncoderParams.named("flux").downsamplingFactor());
    }

    @Test
    void invalidParamsAreRefusedWithTheReason() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new AutoEncoderParams(32, 3, 24, 3, new int[] {1, 2}, 1, 16, 0.3611, 0.1159));
        assertTrue(e.getMessage().contains("divisible by the 32 groups"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new AutoEncoderParams(32, 3, 32, 3, new int[] {1, 2}, 1, 16, 0, 0.1159));
        assertTrue(e.getMessage().contains("scale_factor"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> AutoEncoderParams.named("sdxl"));
        assertTrue(e.getMessage().contains("flux"), e.getMessage());
    }

    @Test
    void diffusersOptionsFluxLacksAreRefused() throws IOException {
        JsonObject o = JsonParser.parseString(Files.readString(AutoEncoderTest.DIFFUSERS_VAE.resolve("config.json"))).getAsJsonObject();
        o.addProperty("use_quant_conv", true);
        var e = assertThrows(IllegalArgumentException.class, () -> AutoEncoderParams.fromDiffusersConfig(o));
        assertTrue(e.getMessage().contains("quant_conv"), e.getMessage());
    }
}
