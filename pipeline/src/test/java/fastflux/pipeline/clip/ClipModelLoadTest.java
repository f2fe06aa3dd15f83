package fastflux.pipeline.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.model.Param;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Loading {@code CLIPModel} folders: shards, fp16 and bf16 files, errors naming tensors, files and fields, and
 * ViT-L/14's geometry.
 */
class ClipModelLoadTest {

    /** A copy of clip-tiny-a without its weights. */
    private static Path copyWithoutWeights(Path tmp) throws Exception {
        Path dir = tmp.resolve("clip");
        Files.createDirectories(dir);
        try (var files = Files.list(ClipTinyA.DIR)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (!f.getFileName().toString().equals("model.safetensors")) Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        return dir;
    }

    /** Writes the fixture's tensors whose names pass {@code keep} to {@code file}, as {@code dtype}. */
    private static void writeWeights(Path file, Predicate<String> keep, DType dtype) throws Exception {
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsReader r = SafetensorsReader.open(ClipTinyA.DIR.resolve("model.safetensors"))) {
            for (String name : r.names()) {
                if (keep.test(name)) w.add(name, dtype, r.info(name).shape(), r.readFloats(name));
            }
        }
        w.write(file);
    }

    private static float[][] imageEmbeds(Path dir) {
        try (NDManager m = NDManager.newBaseManager("PyTorch"); ClipModel model = ClipModel.load(dir, m)) {
            return model.imageEmbedsFromPixels(ClipTinyA.rows("pixel_values", 4));
        }
    }

    @Test
    void missingUnexpectedAndMisShapedTensorsAreNamedWithTheFile(@TempDir Path tmp) throws Exception {
        Path dir = copyWithoutWeights(tmp);
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsReader r = SafetensorsReader.open(ClipTinyA.DIR.resolve("model.safetensors"))) {
            for (String name : r.names()) {
                if (name.equals("vision_model.encoder.layers.1.mlp.fc2.bias")) continue;
                if (name.equals("visual_projection.weight")) {
                    w.add(name, DType.F32, new long[] {24, 31}, new float[24 * 31]);
                    continue;
                }
                w.add(name, r.info(name).dtype(), r.info(name).shape(), r.readFloats(name));
            }
        }
        w.add("vision_model.head.weight", DType.F32, new long[] {2}, new float[2]);
        w.add("vision_model.embeddings.position_ids", DType.F32, new long[] {1, 17}, new float[17]); // a buffer: ignored
        w.write(file);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipModel.load(dir, m));
            String msg = e.getMessage();
            assertTrue(msg.contains(file.toString()), msg);
            assertTrue(msg.contains("missing (1): vision_model.encoder.layers.1.mlp.fc2.bias"), msg);
            assertTrue(msg.contains("unexpected (1): vision_model.head.weight"), msg);
            assertTrue(msg.contains("visual_projection.weight (24, 31) (expected (24, 32))"), msg);
            assertEquals(0, m.getManagedArrays().size(), "nothing is left loaded after a refused checkpoint");
        }
    }

    @Test
    void shardedCheckpointsGiveTheSameEmbeddings(@TempDir Path tmp) throws Exception {
        Path dir = copyWithoutWeights(tmp);
        writeWeights(dir.resolve("model-00001-of-00002.safetensors"), n -> n.startsWith("vision_model."), DType.F32);
        writeWeights(dir.resolve("model-00002-of-00002.safetensors"), n -> !n.startsWith("vision_model."), DType.F32);
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        try (SafetensorsReader r = SafetensorsReader.open(ClipTinyA.DIR.resolve("model.safetensors"))) {
            String sep = "";
            for (String name : r.names()) {
                index.append(sep).append('"').append(name).append("\": \"model-0000")
                        .append(name.startsWith("vision_model.") ? 1 : 2).append("-of-00002.safetensors\"");
                sep = ", ";
            }
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.append("}}").toString());
        float[][] sharded = imageEmbeds(dir);
        float err = ClipTinyA.maxAbsDiff(sharded, ClipTinyA.rows("image_embeds", 4));
        assertTrue(err < 1e-4, "sharded image_embeds " + err);
    }

    @Test
    void halfPrecisionFilesAreConvertedInJava(@TempDir Path tmp) throws Exception {
        for (DType dtype : List.of(DType.F16, DType.BF16)) {
            Path dir = copyWithoutWeights(tmp.resolve(dtype.name()));
            writeWeights(dir.resolve("model.safetensors"), n -> true, dtype);
            float err = ClipTinyA.maxAbsDiff(imageEmbeds(dir), ClipTinyA.rows("image_embeds", 4));
            System.out.printf("clip-tiny-a image_embeds from %s weights: max abs error %.3g%n", dtype, err);
            // The weights' rounding alone (fp16 2^-11, bf16 2^-8 relative): far below what a wrong conversion gives.
            assertTrue(err < (dtype == DType.F16 ? 5e-3 : 5e-2), dtype + " image_embeds " + err);
        }
    }

    @Test
    void badConfigsNameTheFileAndTheSection(@TempDir Path tmp) throws Exception {
        Path dir = copyWithoutWeights(tmp);
        Files.copy(ClipTinyA.DIR.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        Path config = dir.resolve("config.json");
        String good = Files.readString(config);
        Files.writeString(config, good.replace("\"projection_dim\": 24,\n  \"text_config\"", "\"text_config\"")
                .replace("\"patch_size\": 8", "\"patch_size\": 64").replace("\"num_attention_heads\": 4,\n    \"num_channels\"",
                        "\"num_attention_heads\": 5,\n    \"num_channels\""));
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClipModel.load(dir, m));
            String msg = e.getMessage();
            assertTrue(msg.startsWith(config.toString()), msg);
            assertTrue(msg.contains("missing \"projection_dim\""), msg);
            assertTrue(msg.contains("vision_config: "), msg);
            assertTrue(msg.contains("\"patch_size\" 64 is larger than \"image_size\" 32"), msg);
            assertTrue(msg.contains("\"hidden_size\" 32 is not a multiple of \"num_attention_heads\" 5"), msg);

            Files.writeString(config, good.replace("\"vision_config\"", "\"vision_cfg\""));
            e = assertThrows(IllegalArgumentException.class, () -> ClipModel.load(dir, m));
            assertTrue(e.getMessage().contains("missing \"vision_config\""), e.getMessage());

            Files.writeString(config, good);
            Path pre = dir.resolve("preprocessor_config.json");
            Files.writeString(pre, Files.readString(pre).replace("\"height\": 32", "\"height\": 30"));
            e = assertThrows(IllegalArgumentException.class, () -> ClipModel.load(dir, m));
            assertTrue(e.getMessage().contains("crop_size 30x32 differs from the vision tower's image_size 32"), e.getMessage());

            Files.delete(dir.resolve("model.safetensors"));
            Files.copy(ClipTinyA.DIR.resolve("preprocessor_config.json"), pre, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            e = assertThrows(IllegalArgumentException.class, () -> ClipModel.load(dir, m));
            assertTrue(e.getMessage().contains("no CLIP weights"), e.getMessage());
            assertEquals(0, m.getManagedArrays().size());
        }
    }

    @Test
    void clipL14ConfigGivesItsGeometry(@TempDir Path tmp) throws Exception {
        // The shape of openai/clip-vit-large-patch14's config.json (abridged: the fields the towers read, and the
        // *_config_dict overrides older files carry).
        Path config = tmp.resolve("config.json");
        Files.writeString(config, "{\"architectures\": [\"CLIPModel\"], \"projection_dim\": 768, "
                + "\"text_config\": {\"hidden_size\": 512, \"intermediate_size\": 2048, \"num_attention_heads\": 8, "
                + "\"num_hidden_layers\": 12, \"vocab_size\": 49408, \"max_position_embeddings\": 77, "
                + "\"bos_token_id\": 0, \"eos_token_id\": 2, \"pad_token_id\": 1, \"hidden_act\": \"quick_gelu\"}, "
                + "\"text_config_dict\": {\"hidden_size\": 768, \"intermediate_size\": 3072, \"num_attention_heads\": 12, "
                + "\"num_hidden_layers\": 12, \"projection_dim\": 768}, "
                + "\"vision_config\": {\"hidden_size\": 1024, \"image_size\": 224, \"intermediate_size\": 4096, "
                + "\"num_attention_heads\": 16, \"num_hidden_layers\": 24, \"patch_size\": 14, \"projection_dim\": 768, "
                + "\"hidden_act\": \"quick_gelu\", \"layer_norm_eps\": 1e-05}}");
        ClipModel.Config c = ClipModel.readConfig(config);
        assertEquals(ClipTextConfig.clipL(), c.text());
        assertEquals(ClipVisionConfig.clipL(), c.vision());
        assertEquals(768, c.projectionDim());
        assertEquals(16, c.vision().gridSize());
        assertEquals(257, c.vision().numPositions());
        Map<String, Param> params = new ClipVisionEncoder(c.vision()).params();
        assertEquals(new Shape(1024, 3, 14, 14), params.get("vision_model.embeddings.patch_embedding.weight").shape());
        assertEquals(new Shape(257, 1024), params.get("vision_model.embeddings.position_embedding.weight").shape());
        assertEquals(new Shape(1024, 4096), params.get("vision_model.encoder.layers.23.mlp.fc2.weight").shape());
        long count = 0;
        for (Param p : params.values()) count += p.shape().size();
        assertEquals(303_179_776L, count, "CLIPVisionModel ViT-L/14 parameters");
    }

    @Test
    void patchEmbeddingIsTheStridedConvolution() {
        // ViT-L/14's patch size on a 2x2 grid with a ragged edge (30 = 2·14 + 2: the convolution drops the rest).
        ClipVisionConfig config = new ClipVisionConfig(8, 16, 1, 2, 3, 30, 14, 1e-5, "quick_gelu");
        ClipVisionEncoder enc = new ClipVisionEncoder(config);
        Random rnd = new Random(36);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Map<String, Param> params = enc.params();
            float[] kernel = random(rnd, 8 * 3 * 14 * 14);
            float[] cls = random(rnd, 8);
            float[] pos = random(rnd, 5 * 8);
            for (Param p : params.values()) p.set(m.create(random(rnd, (int) p.shape().size()), p.shape()));
            params.get("vision_model.embeddings.patch_embedding.weight").set(m.create(kernel, new Shape(8, 3, 14, 14)));
            params.get("vision_model.embeddings.class_embedding").set(m.create(cls, new Shape(8)));
            params.get("vision_model.embeddings.position_embedding.weight").set(m.create(pos, new Shape(5, 8)));
            float[] pixels = random(rnd, 2 * 3 * 30 * 30);
            float[] got;
            try (NDManager call = m.newSubManager()) {
                NDArray x = call.create(pixels, new Shape(2, 3, 30, 30));
                got = enc.embeddings(x).toFloatArray();
                enc.forward(x).close();
            }
            float err = 0;
            for (int b = 0; b < 2; b++) {
                for (int t = 0; t < 5; t++) {
                    for (int o = 0; o < 8; o++) {
                        double v = t == 0 ? cls[o] : 0;
                        if (t > 0) {
                            int r = (t - 1) / 2, col = (t - 1) % 2;
                            for (int ch = 0; ch < 3; ch++) {
                                for (int i = 0; i < 14; i++) {
                                    for (int j = 0; j < 14; j++) {
                                        v += kernel[((o * 3 + ch) * 14 + i) * 14 + j]
                                                * pixels[((b * 3 + ch) * 30 + r * 14 + i) * 30 + col * 14 + j];
                                    }
                                }
                            }
                        }
                        v += pos[t * 8 + o];
                        err = Math.max(err, (float) Math.abs(v - got[(b * 5 + t) * 8 + o]));
                    }
                }
            }
            assertTrue(err < 1e-4, "patch embedding vs the convolution: " + err);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> enc.forward(m.create(new float[3 * 28 * 28], new Shape(1, 3, 28, 28))));
            assertTrue(e.getMessage().contains("[B, 3, 30, 30]"), e.getMessage());
        }
    }

    @Test
    void aForwardLeavesNothingInTheWeightsManager() {
        try (NDManager m = NDManager.newBaseManager("PyTorch"); ClipModel model = ClipModel.load(ClipTinyA.DIR, m)) {
            int weights = model.weightsManager().getManagedArrays().size();
            model.imageEmbeds(ClipTinyA.images());
            model.textEmbeds(ClipTinyA.PROMPTS);
            assertEquals(weights, model.weightsManager().getManagedArrays().size());
        }
    }

    private static float[] random(Random rnd, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) out[i] = (float) rnd.nextGaussian();
        return out;
    }

    @Test
    void theFixtureParsesAsItsReadmeSays() {
        ClipModel.Config c = ClipModel.readConfig(ClipTinyA.DIR.resolve("config.json"));
        assertEquals(new ClipVisionConfig(32, 64, 2, 4, 3, 32, 8, 1e-5, "quick_gelu"), c.vision());
        assertEquals(24, c.projectionDim());
        assertArrayEquals(new int[] {662, 663, 663},
                new int[] {c.text().bosTokenId(), c.text().eosTokenId(), c.text().padTokenId()});
    }
}
