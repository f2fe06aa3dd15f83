package fastflux.pipeline.bench;

import ai.djl.ndarray.types.Shape;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.Param;
import fastflux.pipeline.clip.ClipTextEncoder;
import fastflux.pipeline.layout.DiffusersKeys;
import fastflux.pipeline.t5.T5Encoder;
import fastflux.pipeline.vae.AutoEncoder;
import fastflux.pipeline.vae.AutoEncoderLayout;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A diffusers FLUX.1 folder of seeded random bf16 weights for the architecture of a {@link PipelineAccounting}.
 * The tensor names and shapes come from the modules the loaders build (their parameter lists allocate nothing),
 * so the folder loads exactly as a release does. The tokenizers are copied from a folder that has them.
 */
public final class RandomFluxDirectory {
    private RandomFluxDirectory() {}

    /** Writes the folder into {@code dir} (created), one safetensors file per part. */
    public static void write(Path dir, PipelineAccounting a, Path tokenizers, long seed, double std) {
        try {
            Files.createDirectories(dir);
            for (String part : new String[] {"tokenizer", "tokenizer_2"}) copyTree(tokenizers.resolve(part), dir.resolve(part));
            allowT5Length(dir.resolve("tokenizer_2/tokenizer_config.json"));
            writeJson(dir.resolve("model_index.json"), MODEL_INDEX);
            writeJson(dir.resolve("scheduler/scheduler_config.json"), SCHEDULER);
            writeJson(dir.resolve("transformer/config.json"), transformerConfig(a.flux()));
            writeJson(dir.resolve("text_encoder_2/config.json"), t5Config(a));
            writeJson(dir.resolve("text_encoder/config.json"), clipConfig(a));
            writeJson(dir.resolve("vae/config.json"), vaeConfig(a));
            RandomWeights.write(dir.resolve("text_encoder/model.safetensors"), clipShapes(a), seed + 1, std);
            RandomWeights.write(dir.resolve("text_encoder_2/model.safetensors"), t5Shapes(a), seed + 2, std);
            RandomWeights.write(dir.resolve("vae/" + AutoEncoder.DIFFUSERS_WEIGHTS), vaeShapes(a), seed + 3, std);
            RandomWeights.write(dir.resolve("transformer/diffusion_pytorch_model.safetensors"), transformerShapes(a.flux()),
                    seed + 4, std);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the random FLUX.1 folder " + dir + ": " + e.getMessage(), e);
        }
    }

    /** The diffusers transformer's tensors: each BFL parameter's diffusers sources, named once. */
    public static Map<String, long[]> transformerShapes(FluxParams p) {
        Map<String, long[]> out = RandomWeights.ordered();
        for (Param param : new FluxModel(p).params().values()) {
            long[] bfl = param.shape().getShape();
            for (DiffusersKeys.Rows r : DiffusersKeys.sources(param.name(), bfl, p)) {
                long[] s = bfl.clone();
                if (s.length > 0) s[0] = r.sourceRows();
                out.putIfAbsent(r.key(), s);
            }
        }
        return out;
    }

    public static Map<String, long[]> t5Shapes(PipelineAccounting a) {
        Map<String, long[]> out = RandomWeights.ordered();
        new T5Encoder(a.t5()).params().values().forEach(p -> out.put(p.name(), p.shape().getShape()));
        return out;
    }

    public static Map<String, long[]> clipShapes(PipelineAccounting a) {
        Map<String, long[]> out = RandomWeights.ordered();
        new ClipTextEncoder(a.clip()).params().values().forEach(p -> out.put(p.name(), p.shape().getShape()));
        return out;
    }

    public static Map<String, long[]> vaeShapes(PipelineAccounting a) {
        Map<String, long[]> out = RandomWeights.ordered();
        int levels = a.ae().levels();
        for (Param p : new AutoEncoder(a.ae()).params().values()) {
            Shape s = AutoEncoderLayout.DIFFUSERS.fileShape(p.name(), p.shape());
            out.put(AutoEncoderLayout.DIFFUSERS.fileKey(p.name(), levels), s.getShape());
        }
        return out;
    }

    private static String transformerConfig(FluxParams p) {
        return """
                {"_class_name": "FluxTransformer2DModel", "_diffusers_version": "0.30.0",
                 "attention_head_dim": %d, "axes_dims_rope": %s, "guidance_embeds": %b, "in_channels": %d,
                 "joint_attention_dim": %d, "num_attention_heads": %d, "num_layers": %d, "num_single_layers": %d,
                 "out_channels": null, "patch_size": 1, "pooled_projection_dim": %d}
                """.formatted(p.headDim(), Arrays.toString(p.axesDim()), p.guidanceEmbed(), p.inChannels(),
                p.contextInDim(), p.numHeads(), p.depth(), p.depthSingleBlocks(), p.vecInDim());
    }

    private static String t5Config(PipelineAccounting a) {
        var c = a.t5();
        return """
                {"architectures": ["T5EncoderModel"], "d_ff": %d, "d_kv": %d, "d_model": %d, "dense_act_fn": "gelu_new",
                 "eos_token_id": 1, "feed_forward_proj": "gated-gelu", "is_gated_act": true, "layer_norm_epsilon": %s,
                 "model_type": "t5", "num_heads": %d, "num_layers": %d, "pad_token_id": 0,
                 "relative_attention_max_distance": %d, "relative_attention_num_buckets": %d,
                 "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": %d}
                """.formatted(c.dFf(), c.dKv(), c.dModel(), c.layerNormEpsilon(), c.numHeads(), c.numLayers(),
                c.relativeAttentionMaxDistance(), c.relativeAttentionNumBuckets(), c.vocabSize());
    }

    private static String clipConfig(PipelineAccounting a) {
        var c = a.clip();
        return """
                {"architectures": ["CLIPTextModel"], "bos_token_id": %d, "eos_token_id": %d, "hidden_act": "%s",
                 "hidden_size": %d, "intermediate_size": %d, "layer_norm_eps": %s, "max_position_embeddings": %d,
                 "model_type": "clip_text_model", "num_attention_heads": %d, "num_hidden_layers": %d,
                 "pad_token_id": %d, "projection_dim": 768, "torch_dtype": "bfloat16", "vocab_size": %d}
                """.formatted(c.bosTokenId(), c.eosTokenId(), c.hiddenAct(), c.hiddenSize(), c.intermediateSize(),
                c.layerNormEps(), c.maxPositionEmbeddings(), c.numAttentionHeads(), c.numHiddenLayers(), c.padTokenId(),
                c.vocabSize());
    }

    private static String vaeConfig(PipelineAccounting a) {
        var p = a.ae();
        int[] channels = Arrays.stream(p.chMult()).map(m -> m * p.ch()).toArray();
        String down = Arrays.stream(channels).mapToObj(c -> "\"DownEncoderBlock2D\"").collect(Collectors.joining(", "));
        String up = Arrays.stream(channels).mapToObj(c -> "\"UpDecoderBlock2D\"").collect(Collectors.joining(", "));
        return """
                {"_class_name": "AutoencoderKL", "_diffusers_version": "0.30.0", "act_fn": "silu",
                 "block_out_channels": %s, "down_block_types": [%s], "force_upcast": true, "in_channels": %d,
                 "latent_channels": %d, "layers_per_block": %d, "mid_block_add_attention": true, "norm_num_groups": 32,
                 "out_channels": %d, "sample_size": %d, "scaling_factor": %s, "shift_factor": %s,
                 "up_block_types": [%s], "use_post_quant_conv": false, "use_quant_conv": false}
                """.formatted(Arrays.toString(channels), down, p.inChannels(), p.zChannels(), p.numResBlocks(), p.outCh(),
                p.resolution(), p.scaleFactor(), p.shiftFactor(), up);
    }

    private static final String MODEL_INDEX = """
            {"_class_name": "FluxPipeline", "_diffusers_version": "0.30.0",
             "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
             "text_encoder": ["transformers", "CLIPTextModel"], "text_encoder_2": ["transformers", "T5EncoderModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "T5TokenizerFast"],
             "transformer": ["diffusers", "FluxTransformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]}
            """;

    private static final String SCHEDULER = """
            {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.30.0", "base_image_seq_len": 256,
             "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 3.0,
             "use_dynamic_shifting": true}
            """;

    /** T5-XXL's tokenizer takes 512 tokens; a copied test tokenizer may cap fewer. */
    private static void allowT5Length(Path config) throws IOException {
        if (!Files.isRegularFile(config)) return;
        com.google.gson.JsonObject o = com.google.gson.JsonParser.parseString(Files.readString(config)).getAsJsonObject();
        o.addProperty("model_max_length", 512);
        Files.writeString(config, o.toString());
    }

    private static void writeJson(Path file, String json) throws IOException {
        Files.createDirectories(file.getParent());
        Files.writeString(file, json);
    }

    private static void copyTree(Path from, Path to) throws IOException {
        if (!Files.isDirectory(from)) throw new IOException("no tokenizer folder " + from);
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, to.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
