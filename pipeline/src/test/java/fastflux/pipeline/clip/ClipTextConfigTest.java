package fastflux.pipeline.clip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClipTextConfigTest {

    @Test
    void readsTheFixtureConfig() {
        ClipTextConfig c = ClipTextConfig.read(ClipFixture.TEXT_ENCODER.resolve("config.json"));
        assertEquals(new ClipTextConfig(664, 32, 64, 2, 4, 77, 1e-5, "quick_gelu", 662, 663, 663), c);
        assertEquals(8, c.headDim());
        assertTrue(!c.legacyPooling());
        assertTrue(ClipTextConfig.clipL().legacyPooling());
    }

    @Test
    void readsTheTextConfigOfAClipModel(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("config.json");
        Files.writeString(file, "{\"model_type\": \"clip\", \"projection_dim\": 24, \"text_config\": {\"vocab_size\": 664,"
                + " \"hidden_size\": 32, \"intermediate_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                + " \"bos_token_id\": 662, \"eos_token_id\": 663, \"pad_token_id\": 663}, \"vision_config\": {}}");
        assertEquals(new ClipTextConfig(664, 32, 64, 2, 4, 77, 1e-5, "quick_gelu", 662, 663, 663),
                ClipTextConfig.read(file));
    }

    @Test
    void badFieldsAreNamedWithTheFile(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("text_encoder");
        Files.createDirectories(dir);
        Files.copy(ClipFixture.TEXT_ENCODER.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        String good = Files.readString(ClipFixture.TEXT_ENCODER.resolve("config.json"));
        Files.writeString(dir.resolve("config.json"), good
                .replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5")
                .replace("\"hidden_act\": \"quick_gelu\"", "\"hidden_act\": \"relu\"")
                .replace("\"eos_token_id\": 663", "\"eos_token_id\": 700")
                .replace("\"vocab_size\": 664", "\"vocab_size\": 664.5"));
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipTextEncoder.load(dir, m));
            String msg = e.getMessage();
            assertTrue(msg.startsWith(dir.resolve("config.json").toString()), msg);
            assertTrue(msg.contains("\"vocab_size\" must be an integer, got 664.5"), msg);
        }
        Files.writeString(dir.resolve("config.json"), good
                .replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5")
                .replace("\"hidden_act\": \"quick_gelu\"", "\"hidden_act\": \"relu\"")
                .replace("\"eos_token_id\": 663", "\"eos_token_id\": 700"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClipTextConfig.read(dir.resolve("config.json")));
        String msg = e.getMessage();
        assertTrue(msg.startsWith(dir.resolve("config.json").toString()), msg);
        assertTrue(msg.contains("\"hidden_size\" 32 is not a multiple of \"num_attention_heads\" 5"), msg);
        assertTrue(msg.contains("\"hidden_act\" relu"), msg);
        assertTrue(msg.contains("\"eos_token_id\" 700 is outside the vocabulary 0..663"), msg);
    }

    @Test
    void missingFieldsAreNamed(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("config.json");
        Files.writeString(file, "{\"vocab_size\": 664, \"hidden_size\": 32}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipTextConfig.read(file));
        assertTrue(e.getMessage().contains("missing \"intermediate_size\"; missing \"num_hidden_layers\"; "
                + "missing \"num_attention_heads\""), e.getMessage());
        Files.writeString(file, "{\"vocab_size\": ");
        e = assertThrows(IllegalArgumentException.class, () -> ClipTextConfig.read(file));
        assertTrue(e.getMessage().startsWith(file + ": not valid JSON"), e.getMessage());
    }
}
