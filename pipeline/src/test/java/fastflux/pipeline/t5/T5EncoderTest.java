package fastflux.pipeline.t5;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.Attention;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The T5 encoder against the reference outputs of fixtures/flux-pipeline-a (float32 on bf16 weights). */
class T5EncoderTest {
    static final Path FIXTURE = Path.of("src/test/resources/fixtures/flux-pipeline-a");
    static final Path DIR = FIXTURE.resolve("diffusers/text_encoder_2");

    static long[][] referenceIds(SafetensorsReader expected) {
        long[] flat = expected.readLongs("t5_ids");
        return new long[][] {Arrays.copyOfRange(flat, 0, 32), Arrays.copyOfRange(flat, 32, 64)};
    }

    static double maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs((double) a[i] - b[i]));
        return d;
    }

    @Test
    void relativeBucketsEqualTheReference() {
        try (SafetensorsReader expected = SafetensorsReader.open(FIXTURE.resolve("expected.safetensors"))) {
            long[] want = expected.readLongs("t5_rel_buckets");
            int[] got = RelativePosition.buckets(32, 32, 32, 128);
            for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], "bucket [" + i / 32 + ", " + i % 32 + "]");
        }
    }

    @Test
    void longDistancesShareLogarithmicBuckets() {
        // Hand-computed for 32 buckets, max distance 128: 16 per direction, 8 exact.
        assertEquals(0, RelativePosition.bucket(0, 32, 128));
        assertEquals(7, RelativePosition.bucket(-7, 32, 128));
        assertEquals(16 + 7, RelativePosition.bucket(7, 32, 128));
        assertEquals(8, RelativePosition.bucket(-8, 32, 128));
        assertEquals(8 + 4, RelativePosition.bucket(-32, 32, 128)); // 8 + log(4) / log(16) * 8
        assertEquals(15, RelativePosition.bucket(-1000, 32, 128));
        assertEquals(31, RelativePosition.bucket(1000, 32, 128));
    }

    @Test
    void positionBiasAndHiddenStatesMatchInFp32() {
        try (NDManager m = NDManager.newBaseManager();
             SafetensorsReader expected = SafetensorsReader.open(FIXTURE.resolve("expected.safetensors"))) {
            T5Encoder encoder = T5Encoder.load(DIR, m, DataType.FLOAT32);
            NDArray bias = encoder.positionBias(m, 32);
            assertArrayEquals(expected.info("t5_position_bias").shape(), bias.getShape().getShape());
            double biasErr = maxAbsDiff(expected.readFloats("t5_position_bias"), bias.toFloatArray());
            assertTrue(biasErr <= 1e-5, "position bias max abs error " + biasErr);

            NDArray hidden = encoder.forward(referenceIds(expected), m);
            assertArrayEquals(expected.info("t5_hidden").shape(), hidden.getShape().getShape());
            double err = maxAbsDiff(expected.readFloats("t5_hidden"), hidden.toFloatArray());
            System.out.printf("T5 fp32: position bias max abs error %.3g, hidden %.3g%n", biasErr, err);
            assertTrue(err <= 1e-4, "t5_hidden max abs error " + err);
        }
    }

    @Test
    void chunkedAttentionEqualsOneChunk() {
        long saved = Attention.maxScoreElements;
        try (NDManager m = NDManager.newBaseManager();
             SafetensorsReader expected = SafetensorsReader.open(FIXTURE.resolve("expected.safetensors"))) {
            T5Encoder encoder = T5Encoder.load(DIR, m, DataType.FLOAT32);
            float[] whole = encoder.forward(referenceIds(expected), m).toFloatArray();
            Attention.maxScoreElements = 2 * 32 * 5; // one head and 5 query rows at a time; matmul blocking moves the last bits
            float[] chunked = encoder.forward(referenceIds(expected), m).toFloatArray();
            assertTrue(maxAbsDiff(whole, chunked) <= 1e-5, "chunked attention differs by " + maxAbsDiff(whole, chunked));
        } finally {
            Attention.maxScoreElements = saved;
        }
    }

    @Test
    void fp16StaysFiniteAndClose() {
        try (NDManager m = NDManager.newBaseManager();
             SafetensorsReader expected = SafetensorsReader.open(FIXTURE.resolve("expected.safetensors"))) {
            T5Encoder encoder = T5Encoder.load(DIR, m, DataType.FLOAT16);
            NDArray hidden = encoder.forward(referenceIds(expected), m);
            assertEquals(DataType.FLOAT16, hidden.getDataType());
            float[] half = hidden.toType(DataType.FLOAT32, false).toFloatArray();
            for (float v : half) assertTrue(Float.isFinite(v), "fp16 output not finite: " + v);
            double err = maxAbsDiff(expected.readFloats("t5_hidden"), half);
            System.out.printf("T5 fp16: hidden max abs error %.3g%n", err);
            assertTrue(err <= 1e-2, "fp16 t5_hidden max abs error " + err); // measured 4.7e-3
        }
    }

    @Test
    void fp16OverflowIsClampedToTheReferenceBound() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {1f, Float.POSITIVE_INFINITY, -70000f, 3f}).toType(DataType.FLOAT16, false);
            float[] got = T5Block.clampFp16(x).toType(DataType.FLOAT32, false).toFloatArray();
            float bound = m.create(T5Block.FP16_CLAMP).toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false).getFloat();
            assertArrayEquals(new float[] {1f, bound, -bound, 3f}, got);
            NDArray finite = m.create(new float[] {65000f, -2f}).toType(DataType.FLOAT16, false);
            assertSame(finite, T5Block.clampFp16(finite), "a finite fp16 stream is left as it is");
        }
    }

    @Test
    void badConfigFieldIsNamedWithTheFile(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("text_encoder_2");
        Files.createDirectories(dir);
        String config = Files.readString(DIR.resolve("config.json"))
                .replace("\"num_heads\": 4", "\"num_heads\": \"four\"")
                .replace("\"gated-gelu\"", "\"relu\"");
        Files.writeString(dir.resolve("config.json"), config);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> T5Config.read(dir.resolve("config.json")));
        assertTrue(e.getMessage().contains(dir.resolve("config.json").toString()), e.getMessage());
        assertTrue(e.getMessage().contains("\"num_heads\" must be an integer"), e.getMessage());
        Files.writeString(dir.resolve("config.json"), config.replace("\"four\"", "4"));
        e = assertThrows(IllegalArgumentException.class, () -> T5Config.read(dir.resolve("config.json")));
        assertTrue(e.getMessage().contains("\"feed_forward_proj\" must be \"gated-gelu\""), e.getMessage());
    }

    @Test
    void missingAndUnexpectedTensorsAreNamedWithTheFile(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("text_encoder_2");
        Files.createDirectories(dir);
        Files.copy(DIR.resolve("config.json"), dir.resolve("config.json"));
        Path file = dir.resolve("model.safetensors");
        try (NDManager m = NDManager.newBaseManager(); T5Checkpoint src = T5Checkpoint.open(DIR)) {
            SafetensorsWriter out = new SafetensorsWriter();
            for (String n : src.names()) {
                if (n.equals("encoder.block.1.layer.0.SelfAttention.k.weight")) continue;
                String name = n.equals("encoder.final_layer_norm.weight") ? "encoder.final_norm.weight" : n;
                out.add(name, src.load(n, m, DataType.FLOAT32), DType.BF16);
            }
            out.write(file);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> T5Encoder.load(dir, m, DataType.FLOAT32));
            String msg = e.getMessage();
            assertTrue(msg.contains(file.toString()), msg);
            assertTrue(msg.contains("missing (2): encoder.block.1.layer.0.SelfAttention.k.weight, encoder.final_layer_norm.weight"), msg);
            assertTrue(msg.contains("unexpected (1): encoder.final_norm.weight"), msg);
        }
    }

    @Test
    void aFolderWithoutWeightsIsNamed(@TempDir Path tmp) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> T5Checkpoint.open(tmp));
        assertTrue(e.getMessage().contains(tmp.toString()) && e.getMessage().contains(T5Checkpoint.INDEX), e.getMessage());
    }

    @Test
    void shardedCheckpointLoadsAsOneFile(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("text_encoder_2");
        Files.createDirectories(dir);
        Files.copy(DIR.resolve("config.json"), dir.resolve("config.json"));
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        try (NDManager m = NDManager.newBaseManager(); T5Checkpoint src = T5Checkpoint.open(DIR);
             SafetensorsReader expected = SafetensorsReader.open(FIXTURE.resolve("expected.safetensors"))) {
            SafetensorsWriter first = new SafetensorsWriter();
            SafetensorsWriter second = new SafetensorsWriter();
            for (String n : src.names()) {
                // Two shards named as the real T5-XXL ones; the embedding under its tied name.
                boolean a = n.startsWith("encoder.block.0.") || n.equals("shared.weight");
                String name = n.equals("shared.weight") ? "encoder.embed_tokens.weight" : n;
                String shard = a ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
                (a ? first : second).add(name, src.load(n, m, DataType.FLOAT32), DType.BF16);
                if (index.charAt(index.length() - 1) != '{') index.append(", ");
                index.append('"').append(name).append("\": \"").append(shard).append('"');
            }
            first.write(dir.resolve("model-00001-of-00002.safetensors"));
            second.write(dir.resolve("model-00002-of-00002.safetensors"));
            Files.writeString(dir.resolve(T5Checkpoint.INDEX), index.append("}}").toString());
            T5Encoder encoder = T5Encoder.load(dir, m, DataType.FLOAT32);
            double err = maxAbsDiff(expected.readFloats("t5_hidden"), encoder.forward(referenceIds(expected), m).toFloatArray());
            assertTrue(err <= 1e-4, "sharded t5_hidden max abs error " + err);
        }
    }
}
