package fastflux.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.io.IoErrors;
import fastflux.model.io.SafetensorsReader;
import fastflux.pipeline.clip.ClipTextEncoder;
import fastflux.pipeline.clip.ClipTokenizer;
import fastflux.pipeline.layout.BflWeights;
import fastflux.pipeline.layout.FluxCheckpoint;
import fastflux.pipeline.layout.FluxCheckpoint.Layout;
import fastflux.pipeline.t5.T5Encoder;
import fastflux.pipeline.t5.T5Tokenizer;
import fastflux.pipeline.vae.AutoEncoder;
import fastflux.pipeline.vae.AutoEncoderLayout;
import fastflux.pipeline.vae.AutoEncoderParams;
import fastflux.sampling.EulerSampler;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * FLUX.1 text to image, as the BFL reference CLI runs it: tokenize, T5 hidden states and CLIP's pooled vector, noise,
 * pack, the flow-matching schedule, Euler steps of the transformer, unpack, decode.
 *
 * <p>Opening reads configs and headers only. Each stage loads its weights and frees them when it ends, so the text
 * encoders and the transformer are never resident together (T5-XXL alone is 19 GB in fp32).
 *
 * <p>Where the parts come from, by the directory's layout ({@link FluxCheckpoint}):
 * <ul>
 *   <li>diffusers: {@code text_encoder/}, {@code text_encoder_2/}, {@code tokenizer/}, {@code tokenizer_2/},
 *       {@code vae/}, and {@code scheduler/scheduler_config.json}, whose shift settings are used;
 *   <li>BFL: {@code ae.safetensors} beside the transformer file (its architecture from {@code config.json}'s
 *       {@code ae_params} when present, else FLUX.1's), the schedule shifted when the model embeds guidance (dev)
 *       and not otherwise (schnell), as the reference does;
 *   <li>fastflux: as BFL, the autoencoder from the text encoders' directory when the model's has none.
 * </ul>
 * The text encoders and tokenizers come from {@link Options#textEncoders} when given, else from the directory itself.
 */
public final class FluxPipeline {
    /** T5's sequence length: FLUX.1-dev was trained with 512 tokens, schnell with 256. */
    public static final int DEV_MAX_SEQUENCE_LENGTH = 512;
    public static final int SCHNELL_MAX_SEQUENCE_LENGTH = 256;
    public static final int DEV_STEPS = 50;
    public static final int SCHNELL_STEPS = 4;
    public static final float DEV_GUIDANCE = 3.5f;
    public static final int DEFAULT_SIZE = 1024;

    static final String[] TEXT_PARTS = {"text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"};

    /**
     * How to open a directory.
     *
     * @param layout the layout to read it in, or null to recognise it
     * @param textEncoders a folder with {@code text_encoder/}, {@code text_encoder_2/}, {@code tokenizer/} and
     *     {@code tokenizer_2/} (a diffusers FLUX.1 folder will do), or null for the model's own directory
     * @param dtype FLOAT32 or FLOAT16, for T5, the transformer and the autoencoder (CLIP runs in FLOAT32)
     */
    public record Options(Layout layout, Path textEncoders, DataType dtype) {
        public Options {
            if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT16) {
                throw new IllegalArgumentException("the pipeline runs in FLOAT32 or FLOAT16, not " + dtype);
            }
        }

        public static Options defaults() {
            return new Options(null, null, DataType.FLOAT32);
        }
    }

    /**
     * One generation's settings.
     *
     * @param width image width in pixels, a multiple of {@link #sizeMultiple()}
     * @param height image height in pixels, likewise
     * @param steps Euler steps
     * @param guidance the embedded guidance (ignored by a model without guidance embedding)
     * @param maxSequenceLength T5 tokens per prompt
     */
    public record Settings(int width, int height, int steps, float guidance, int maxSequenceLength) {
        public Settings {
            if (steps < 1) throw new IllegalArgumentException("steps must be >= 1, got " + steps);
            if (maxSequenceLength < 1) throw new IllegalArgumentException("the max sequence length must be >= 1, got " + maxSequenceLength);
            if (width < 1 || height < 1) throw new IllegalArgumentException("width and height must be >= 1, got " + width + "x" + height);
        }

        public Settings withSize(int w, int h) {
            return new Settings(w, h, steps, guidance, maxSequenceLength);
        }
    }

    /** T5's hidden states [B, L, context] and CLIP's pooled vector [B, vec_in], both fp32, owned by the caller. */
    public record Conditioning(NDArray txt, NDArray y) implements AutoCloseable {
        @Override
        public void close() {
            txt.close();
            y.close();
        }
    }

    /** Sees the packed latents [B, tokens, 4C] after each Euler step (from 0); they are valid only during the call. */
    @FunctionalInterface
    public interface StepListener {
        void afterStep(int step, NDArray latents);
    }

    private final FluxCheckpoint checkpoint;
    private final Path textEncoders;
    private final Path autoEncoder; // a diffusers vae/ folder or a BFL ae.safetensors
    private final AutoEncoderParams aeParams;
    private final FlowSchedule schedule;
    private final DataType dtype;

    private FluxPipeline(FluxCheckpoint checkpoint, Path textEncoders, Path autoEncoder, AutoEncoderParams aeParams,
                         FlowSchedule schedule, DataType dtype) {
        this.checkpoint = checkpoint;
        this.textEncoders = textEncoders;
        this.autoEncoder = autoEncoder;
        this.aeParams = aeParams;
        this.schedule = schedule;
        this.dtype = dtype;
    }

    public static FluxPipeline open(Path dir) {
        return open(dir, Options.defaults());
    }

    /**
     * The pipeline in {@code dir}. Reads configs and safetensors headers only.
     *
     * @throws IllegalArgumentException naming what is missing: the text encoders, the autoencoder, or a checkpoint
     */
    public static FluxPipeline open(Path dir, Options options) {
        FluxCheckpoint ckpt = FluxCheckpoint.open(dir, options.layout());
        Path text = options.textEncoders() != null ? options.textEncoders() : dir;
        List<String> missing = new ArrayList<>();
        for (String part : TEXT_PARTS) if (!Files.isDirectory(text.resolve(part))) missing.add(part + "/");
        if (!missing.isEmpty()) {
            String where = options.textEncoders() != null ? "the text encoders' directory " + text
                    : ckpt.layout().cliName() + " checkpoint " + dir;
            throw new IllegalArgumentException(where + " has no " + String.join(", ", missing)
                    + (options.textEncoders() != null ? "" : "; give the text encoders' directory (--text-encoders DIR), "
                    + "a folder with " + String.join("/, ", TEXT_PARTS) + "/ such as a diffusers FLUX.1 folder"));
        }
        Path ae;
        AutoEncoderParams aeParams;
        FlowSchedule schedule = FlowSchedule.reference(ckpt.params().guidanceEmbed());
        if (ckpt.layout() == Layout.DIFFUSERS) {
            ae = dir.resolve("vae");
            aeParams = AutoEncoder.readDiffusersParams(ae);
            Path scheduler = dir.resolve("scheduler").resolve("scheduler_config.json");
            if (Files.isRegularFile(scheduler)) schedule = FlowSchedule.read(scheduler);
        } else {
            ae = findAutoEncoder(dir);
            if (ae == null && options.textEncoders() != null) ae = findAutoEncoder(options.textEncoders());
            if (ae == null) {
                throw new IllegalArgumentException(dir + " has no autoencoder: looked for " + BflWeights.AUTOENCODER_FILE
                        + " or vae/" + (options.textEncoders() != null ? " there and in " + options.textEncoders() : ""));
            }
            aeParams = Files.isDirectory(ae) ? AutoEncoder.readDiffusersParams(ae) : bflAeParams(ae.getParent());
        }
        return new FluxPipeline(ckpt, text, ae, aeParams, schedule, options.dtype());
    }

    private static Path findAutoEncoder(Path dir) {
        if (Files.isRegularFile(dir.resolve(BflWeights.AUTOENCODER_FILE))) return dir.resolve(BflWeights.AUTOENCODER_FILE);
        if (Files.isRegularFile(dir.resolve("vae").resolve(AutoEncoder.DIFFUSERS_WEIGHTS))) return dir.resolve("vae");
        return null;
    }

    /** {@code config.json}'s {@code ae_params} beside a BFL autoencoder, else FLUX.1's (the release has no config). */
    private static AutoEncoderParams bflAeParams(Path dir) {
        Path config = dir.resolve("config.json");
        if (!Files.isRegularFile(config)) return AutoEncoderParams.FLUX;
        try (Reader r = Files.newBufferedReader(config)) {
            JsonObject o = JsonParser.parseReader(r).getAsJsonObject();
            return o.has("ae_params") ? AutoEncoderParams.fromJson(o.getAsJsonObject("ae_params")) : AutoEncoderParams.FLUX;
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + config + ": " + IoErrors.describe(e), e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(config + ": " + e.getMessage(), e);
        }
    }

    public FluxCheckpoint checkpoint() {
        return checkpoint;
    }

    public FluxParams params() {
        return checkpoint.params();
    }

    /** The folder the text encoders and tokenizers are read from. */
    public Path textEncoders() {
        return textEncoders;
    }

    /** The autoencoder's weights in {@code weights}, in the pipeline's dtype. */
    public AutoEncoder loadAutoEncoder(NDManager weights) {
        return Files.isDirectory(autoEncoder) ? AutoEncoder.loadDiffusers(autoEncoder, weights, dtype)
                : AutoEncoder.load(autoEncoder, AutoEncoderLayout.BFL, aeParams, weights, dtype);
    }

    public FlowSchedule schedule() {
        return schedule;
    }

    public AutoEncoderParams autoEncoderParams() {
        return aeParams;
    }

    public DataType dtype() {
        return dtype;
    }

    /** Whether the model embeds guidance (FLUX.1-dev) rather than being step-distilled without it (schnell). */
    public boolean guidanceDistilled() {
        return params().guidanceEmbed();
    }

    /** The reference's settings for this model: dev 50 steps, guidance 3.5, 512 T5 tokens; schnell 4 steps, 256. */
    public Settings defaultSettings() {
        boolean dev = guidanceDistilled();
        return new Settings(DEFAULT_SIZE, DEFAULT_SIZE, dev ? DEV_STEPS : SCHNELL_STEPS, DEV_GUIDANCE,
                dev ? DEV_MAX_SEQUENCE_LENGTH : SCHNELL_MAX_SEQUENCE_LENGTH);
    }

    /** Widths and heights must be multiples of this: the autoencoder's downsampling times the 2x2 latent patches. */
    public int sizeMultiple() {
        return 2 * aeParams.downsamplingFactor();
    }

    /** @throws IllegalArgumentException naming the nearest valid sizes when a side is not a {@link #sizeMultiple()} */
    public void requireValidSize(int width, int height) {
        requireMultiple("width", width);
        requireMultiple("height", height);
        requireFits(width, height, availableBytes());
    }

    /**
     * The decoder's activations at full resolution, the largest of a generation: about six live maps of
     * {@code channels(0)} channels at W x H (a ResNet block's input, norm, convolution and residual, the upsampling's
     * output), per image, in the compute dtype.
     */
    public long decodeBytes(int width, int height) {
        long bytes = dtype == DataType.FLOAT16 ? 2 : 4;
        return 6L * aeParams.channels(0) * width * height * bytes;
    }

    /** Refuses a size whose decode alone would not fit in {@code available} bytes (negative: not known, no check). */
    void requireFits(int width, int height, long available) {
        long need = decodeBytes(width, height);
        if (available < 0 || need <= available) return;
        throw new IllegalArgumentException(String.format(java.util.Locale.ROOT, "a %dx%d image needs about %.1f GB to "
                + "decode, more than the %.1f GB this machine has available: ask for a smaller --width/--height",
                width, height, need / 1e9, available / 1e9));
    }

    /** MemAvailable of /proc/meminfo, or -1 where it cannot be read. */
    static long availableBytes() {
        try {
            for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux: no check
        }
        return -1;
    }

    private void requireMultiple(String what, int v) {
        int k = sizeMultiple();
        if (v > 0 && v % k == 0) return;
        int below = v / k * k, above = below + k;
        String nearest = below > 0 ? below + " or " + above : Integer.toString(above);
        throw new IllegalArgumentException(what + " " + v + " is not a multiple of " + k + " (the latents are packed in 2x2 "
                + "patches of the autoencoder's 1/" + aeParams.downsamplingFactor() + " image): the nearest valid "
                + what + "s are " + nearest);
    }

    // ---------------------------------------------------------------- the stages

    /**
     * T5 (with {@code maxSequenceLength} tokens, no attention mask) and CLIP's pooled output for the prompts, in
     * {@code m}. Each encoder's weights are freed before this returns.
     */
    public Conditioning encode(List<String> prompts, int maxSequenceLength, NDManager m) {
        if (prompts.isEmpty()) throw new IllegalArgumentException("no prompts");
        NDArray txt;
        try (T5Tokenizer tok = T5Tokenizer.load(textEncoders.resolve("tokenizer_2"), maxSequenceLength);
             NDManager scope = m.newSubManager()) {
            long[][] ids = tok.encode(prompts);
            T5Encoder t5 = T5Encoder.load(textEncoders.resolve("text_encoder_2"), scope, dtype);
            NDArray hidden = t5.forward(ids, scope);
            txt = hidden.toType(DataType.FLOAT32, true);
            txt.attach(m);
        }
        try (ClipTokenizer tok = ClipTokenizer.load(textEncoders.resolve("tokenizer"));
             NDManager scope = m.newSubManager();
             ClipTextEncoder clip = ClipTextEncoder.load(textEncoders.resolve("text_encoder"), scope);
             ClipTextEncoder.Output out = clip.forward(tok.encode(prompts), scope)) {
            NDArray y = out.pooled().duplicate();
            y.attach(m);
            return new Conditioning(txt, y);
        } catch (RuntimeException e) {
            txt.close();
            throw e;
        }
    }

    /** The latent size for an image, per side: the image's over the autoencoder's downsampling. */
    public int latentSide(int pixels) {
        return pixels / aeParams.downsamplingFactor();
    }

    /**
     * Seeded Gaussian latents [B, C, h, w] (fp32) for a {@code width x height} image, row i from {@code seeds[i]}
     * alone with the project's generator ({@link EulerSampler#noise}), in latent (unpacked) order.
     */
    public NDArray noise(long[] seeds, int width, int height, NDManager m) {
        requireValidSize(width, height);
        int c = aeParams.zChannels(), h = latentSide(height), w = latentSide(width);
        try (NDArray flat = EulerSampler.noise(seeds, 1, c * h * w, m)) {
            return flat.reshape(seeds.length, c, h, w);
        }
    }

    /** The tensor {@code noise} [B, C, h, w] of a safetensors file, as fp32. */
    public static NDArray readNoise(Path file, NDManager m) {
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            if (!r.contains("noise")) {
                throw new IllegalArgumentException(file + " has no tensor \"noise\" (it holds " + String.join(", ", r.names()) + ")");
            }
            NDArray noise = r.load("noise", m, DataType.FLOAT32);
            if (noise.getShape().dimension() != 4) {
                noise.close();
                throw new IllegalArgumentException(file + ": \"noise\" must be [B, C, H/8, W/8], got " + noise.getShape());
            }
            return noise;
        }
    }

    /**
     * The Euler loop of {@code model} from {@code noise} [B, C, h, w] with the schedule for its token count; the
     * packed final latents [B, h/2 * w/2, 4C] in fp32, in {@code noise}'s manager.
     */
    public NDArray denoise(FluxModel model, Conditioning c, NDArray noise, int steps, float guidance, StepListener listener) {
        NDManager m = noise.getManager();
        long[] s = noise.getShape().getShape();
        int b = (int) s[0], h = (int) s[2], w = (int) s[3];
        if (c.txt().getShape().get(0) != b) {
            throw new IllegalArgumentException(c.txt().getShape().get(0) + " prompts for " + b + " noise rows");
        }
        try (NDManager run = m.newSubManager()) {
            NDArray img = PackedLatents.pack(noise);
            img.attach(run);
            NDArray imgIds = PackedLatents.imageIds(run, b, h, w);
            NDArray txtIds = run.zeros(new Shape(b, c.txt().getShape().get(1), 3));
            boolean embedsGuidance = model.config().guidanceEmbed();
            float[] timesteps = schedule.timesteps(steps, (h / 2) * (w / 2));
            NDArray out = EulerSampler.sample(img, timesteps, (x, t, scope) -> {
                NDArray g = embedsGuidance ? scope.full(new Shape(b), guidance) : null;
                FluxInputs in = new FluxInputs(x, imgIds, c.txt(), txtIds, scope.full(new Shape(b), t), c.y(), g);
                in.tempAttach(scope);
                return model.forward(in);
            }, listener == null ? null : listener::afterStep);
            out.attach(m);
            return out;
        }
    }

    /**
     * The whole run from given noise [B, C, h, w] (one row per prompt): the decoded images [B, 3, H, W] in fp32, not
     * clamped, in {@code noise}'s manager. Each model is loaded for its stage and freed after it.
     */
    public NDArray images(List<String> prompts, NDArray noise, Settings settings, StepListener listener) {
        long[] s = noise.getShape().getShape();
        if (s.length != 4 || s[0] != prompts.size() || s[1] != aeParams.zChannels()) {
            throw new IllegalArgumentException("the noise must be [" + prompts.size() + ", " + aeParams.zChannels()
                    + ", H/" + aeParams.downsamplingFactor() + ", W/" + aeParams.downsamplingFactor() + "] for "
                    + prompts.size() + " prompt(s), got " + noise.getShape());
        }
        int f = aeParams.downsamplingFactor();
        requireValidSize((int) s[3] * f, (int) s[2] * f);
        NDManager m = noise.getManager();
        try (NDManager work = m.newSubManager()) {
            NDArray packed;
            try (Conditioning c = encode(prompts, settings.maxSequenceLength(), work);
                 NDManager weights = work.newSubManager()) {
                FluxModel model = checkpoint.load(weights, dtype);
                packed = denoise(model, c, noise, settings.steps(), settings.guidance(), listener);
                packed.attach(work);
            }
            try (NDManager weights = work.newSubManager();
                 NDArray latents = PackedLatents.unpack(packed, (int) s[2], (int) s[3])) {
                AutoEncoder ae = Files.isDirectory(autoEncoder) ? AutoEncoder.loadDiffusers(autoEncoder, weights, dtype)
                        : AutoEncoder.load(autoEncoder, AutoEncoderLayout.BFL, aeParams, weights, dtype);
                NDArray image = ae.decode(latents);
                image.attach(m);
                return image;
            }
        }
    }

    /** Images for the prompts, image k from seed {@code seed + k}, as the reference CLI saves them. */
    public List<RgbImage> generate(List<String> prompts, long seed, Settings settings) {
        return generate(prompts, seed, settings, null);
    }

    /** As above, {@code listener} (may be null) told after each sampler step. */
    public List<RgbImage> generate(List<String> prompts, long seed, Settings settings, StepListener listener) {
        requireValidSize(settings.width(), settings.height());
        long[] seeds = new long[prompts.size()];
        for (int k = 0; k < seeds.length; k++) seeds[k] = seed + k;
        try (NDManager m = NDManager.newBaseManager(); NDArray noise = noise(seeds, settings.width(), settings.height(), m)) {
            return generate(prompts, noise, settings, listener);
        }
    }

    /** Images for the prompts from given noise [B, C, h, w], one row per prompt; the noise sets the size. */
    public List<RgbImage> generate(List<String> prompts, NDArray noise, Settings settings) {
        return generate(prompts, noise, settings, null);
    }

    /** As above, {@code listener} (may be null) told after each sampler step. */
    public List<RgbImage> generate(List<String> prompts, NDArray noise, Settings settings, StepListener listener) {
        try (NDArray images = images(prompts, noise, settings, listener)) {
            return RgbImage.fromDecoded(images);
        }
    }

    @Override
    public String toString() {
        return "FLUX.1 pipeline " + checkpoint + ", text encoders from " + textEncoders + ", autoencoder " + autoEncoder
                + ", " + schedule;
    }
}
