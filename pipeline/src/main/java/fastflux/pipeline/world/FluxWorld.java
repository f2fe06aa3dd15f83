package fastflux.pipeline.world;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.PrunedModels;
import fastflux.model.Tensors;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import fastflux.pipeline.FluxPipeline;
import fastflux.pipeline.PackedLatents;
import fastflux.pipeline.RgbImage;
import fastflux.pipeline.clip.ClipModel;
import fastflux.pipeline.clip.ClipTextEncoder;
import fastflux.pipeline.clip.ClipTokenizer;
import fastflux.pipeline.layout.FluxCheckpoint;
import fastflux.pipeline.t5.T5Encoder;
import fastflux.pipeline.t5.T5Tokenizer;
import fastflux.pipeline.vae.AutoEncoder;
import fastflux.world.Frechet;
import fastflux.world.World;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A FLUX.1 pipeline directory (diffusers or BFL layout, with its text encoders) as the pruning method's world: the
 * transformer as {@link #flux()}, prompts from a file or the shipped sets ({@link DefaultPrompts}), conditioning from
 * T5 and CLIP's text encoder, images by the pipeline's sampler and the autoencoder, and judged by a CLIP model
 * ({@code --clip}): alignment is the CLIP score over 100, features the CLIP image embeddings.
 *
 * <p>Opening encodes every prompt the job can use (the calibration pool, the report's evaluation prompts and the empty
 * prompt) into an {@link EmbeddingCache} and frees the text encoders before the transformer is loaded, so T5-XXL and
 * the transformer are never resident together. A prompt outside the cache (one the job did not announce) is encoded
 * when asked for, with the transformer resident, and logged.
 */
public final class FluxWorld implements World<RgbImage> {
    private static final Logger log = LoggerFactory.getLogger(FluxWorld.class);
    /** Prompts per text-encoder forward while the cache is built. */
    static final int ENCODE_CHUNK = 8;
    /** Images per forward of {@link #evaluate}. */
    static final int EVAL_BATCH = 4;
    /** Noise seed of evaluation image k of prompt i: {@code EVAL_SEED + seeds * i + k}. */
    static final long EVAL_SEED = 1_000_000;

    private final Path dir;
    private final FluxPipeline pipeline;
    private final FluxWorldSettings settings;
    private final NDManager manager;
    private final List<String> pool;
    private final String poolLabel;
    private final EmbeddingCache cache;
    private final FluxModel flux;
    private AutoEncoder autoEncoder;
    private ClipModel clip;

    private FluxWorld(Path dir, FluxPipeline pipeline, FluxWorldSettings settings, NDManager manager, List<String> pool,
                      String poolLabel, EmbeddingCache cache, FluxModel flux) {
        this.dir = dir;
        this.pipeline = pipeline;
        this.settings = settings;
        this.manager = manager;
        this.pool = pool;
        this.poolLabel = poolLabel;
        this.cache = cache;
        this.flux = flux;
    }

    /** Opens {@code dir}: prompts read and checked, embeddings cached, encoders freed, then the transformer in fp32. */
    public static FluxWorld open(Path dir, FluxWorldSettings s, NDManager m) {
        FluxPipeline pipeline = FluxPipeline.open(dir);
        FluxParams p = pipeline.params();
        FluxWorldSettings resolved = s.resolve(pipeline);
        // T5's tokenizer caps the length at its model_max_length: the cache and the conditioning take what it gives
        try (T5Tokenizer tok = T5Tokenizer.load(pipeline.textEncoders().resolve("tokenizer_2"), resolved.maxSequenceLength())) {
            resolved = resolved.withMaxSequenceLength(tok.length());
        }
        FluxWorldSettings settings = resolved;
        pipeline.requireValidSize(settings.width(), settings.height());
        List<String> pool;
        String label;
        try (T5Tokenizer tok = T5Tokenizer.load(pipeline.textEncoders().resolve("tokenizer_2"), settings.maxSequenceLength())) {
            if (settings.prompts() != null) {
                List<PromptFiles.Prompt> read = readChecked(settings.prompts(), tok, settings.maxSequenceLength());
                pool = PromptFiles.distinctTexts(read);
                label = settings.prompts().getFileName().toString();
            } else {
                pool = DefaultPrompts.get().calibration();
                label = "PartiPrompts calibration sets";
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read prompts " + settings.prompts() + ": " + e.getMessage(), e);
        }
        int[] split = settings.split();
        if (split[0] + split[1] + 1 > pool.size()) {
            throw new IllegalArgumentException((settings.prompts() != null ? settings.prompts() : "the shipped calibration sets")
                    + " holds " + pool.size() + " distinct prompts: " + split[0] + " fit (--fit-prompts) and " + split[1]
                    + " train (--train-prompts) prompts and at least one held out need " + (split[0] + split[1] + 1));
        }
        LinkedHashSet<String> all = new LinkedHashSet<>();
        all.add("");
        all.addAll(pool);
        all.addAll(settings.evaluationPrompts());
        String identity = EmbeddingCache.identity(pipeline.textEncoders(), List.of("text_encoder", "text_encoder_2",
                "tokenizer", "tokenizer_2"));
        EmbeddingCache cache = EmbeddingCache.open(settings.cacheDir(), List.copyOf(all), settings.maxSequenceLength(),
                identity, p.contextInDim(), p.vecInDim(), (prompts, sink) -> encode(pipeline, prompts,
                        settings.maxSequenceLength(), sink, m));
        log.info("prompt embeddings: {}", cache.detail());
        FluxModel flux;
        try {
            flux = pipeline.checkpoint().load(m, DataType.FLOAT32);
        } catch (RuntimeException e) {
            cache.close();
            throw e;
        }
        return new FluxWorld(dir, pipeline, settings, m, pool, label, cache, flux);
    }

    /** A prompt file's prompts, each also checked against T5's length ({@code --max-sequence-length}). */
    static List<PromptFiles.Prompt> readChecked(Path file, T5Tokenizer tok, int msl) throws IOException {
        List<PromptFiles.Prompt> read = PromptFiles.read(file);
        for (PromptFiles.Prompt p : read) {
            if (tok.truncates(p.text())) {
                throw new IllegalArgumentException(p.where() + ": the prompt is longer than " + (msl - 1)
                        + " T5 tokens (--max-sequence-length " + msl + " with </s>), so the model would not see its end");
            }
        }
        return read;
    }

    /** T5 then CLIP over {@code prompts} in chunks, each encoder loaded once and freed before the next. */
    static void encode(FluxPipeline pipeline, List<String> prompts, int msl, EmbeddingCache.Sink sink, NDManager parent) {
        Path text = pipeline.textEncoders();
        try (T5Tokenizer tok = T5Tokenizer.load(text.resolve("tokenizer_2"), msl); NDManager scope = parent.newSubManager()) {
            T5Encoder t5 = T5Encoder.load(text.resolve("text_encoder_2"), scope, pipeline.dtype());
            for (int from = 0; from < prompts.size(); from += ENCODE_CHUNK) {
                List<String> chunk = prompts.subList(from, Math.min(prompts.size(), from + ENCODE_CHUNK));
                try (NDManager step = scope.newSubManager()) {
                    NDArray hidden = t5.forward(tok.encode(chunk), step);
                    sink.txt(from, hidden.toType(DataType.FLOAT32, false).toFloatArray());
                }
            }
        }
        try (ClipTokenizer tok = ClipTokenizer.load(text.resolve("tokenizer"));
             NDManager scope = parent.newSubManager();
             ClipTextEncoder clip = ClipTextEncoder.load(text.resolve("text_encoder"), scope)) {
            for (int from = 0; from < prompts.size(); from += ENCODE_CHUNK) {
                List<String> chunk = prompts.subList(from, Math.min(prompts.size(), from + ENCODE_CHUNK));
                try (NDManager step = scope.newSubManager(); ClipTextEncoder.Output out = clip.forward(tok.encode(chunk), step)) {
                    sink.y(from, out.pooled().toType(DataType.FLOAT32, false).toFloatArray());
                }
            }
        }
    }

    public FluxPipeline pipeline() {
        return pipeline;
    }

    public FluxWorldSettings settings() {
        return settings;
    }

    /** The embedding cache, and whether it was built, reused or rebuilt. */
    public EmbeddingCache cache() {
        return cache;
    }

    @Override
    public FluxModel flux() {
        return flux;
    }

    /** The first {@code n} of the pool in its order (the file's, or fit then train then held-out sets), cycled if n is larger. */
    @Override
    public List<String> samplePrompts(int n, long seed) {
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) out.add(pool.get(i % pool.size()));
        return out;
    }

    @Override
    public String describeSample(int n, long seed) {
        return poolLabel + " (" + n + " prompts)";
    }

    /** The first {@code n} of the pool that are not in {@code exclude}. */
    @Override
    public List<String> heldOutPrompts(Collection<String> exclude, int n, long seed) {
        Set<String> ex = new HashSet<>(exclude);
        List<String> out = new ArrayList<>(n);
        for (String p : pool) {
            if (out.size() == n) break;
            if (!ex.contains(p)) out.add(p);
        }
        if (out.size() < n) {
            throw new IllegalArgumentException(poolLabel + " holds " + out.size() + " prompts besides the " + ex.size()
                    + " already used, not the " + n + " asked for: give more prompts or fewer --fit-prompts/--train-prompts");
        }
        return out;
    }

    @Override
    public List<String> readPrompts(Path file) throws IOException {
        try (T5Tokenizer tok = T5Tokenizer.load(pipeline.textEncoders().resolve("tokenizer_2"), settings.maxSequenceLength())) {
            return readChecked(file, tok, settings.maxSequenceLength()).stream().map(PromptFiles.Prompt::text).toList();
        }
    }

    @Override
    public Conditioning condition(List<String> prompts, NDManager m) {
        FluxParams p = flux.config();
        int b = prompts.size(), l = settings.maxSequenceLength();
        int txtRow = l * p.contextInDim(), vec = p.vecInDim();
        float[] txt = new float[b * txtRow];
        float[] y = new float[b * vec];
        List<Integer> missing = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            int row = cache.row(prompts.get(i));
            if (row < 0) missing.add(i);
            else cache.read(row, txt, i * txtRow, y, i * vec);
        }
        if (!missing.isEmpty()) {
            List<String> texts = missing.stream().map(prompts::get).toList();
            log.warn("{} prompt(s) outside the embedding cache, encoded with the transformer resident: {}", texts.size(), texts);
            float[][] rows = {null, null};
            encode(pipeline, texts, l, new EmbeddingCache.Sink() {
                @Override
                public void txt(int from, float[] r) {
                    rows[0] = concat(rows[0], r);
                }

                @Override
                public void y(int from, float[] r) {
                    rows[1] = concat(rows[1], r);
                }
            }, m);
            for (int k = 0; k < missing.size(); k++) {
                System.arraycopy(rows[0], k * txtRow, txt, missing.get(k) * txtRow, txtRow);
                System.arraycopy(rows[1], k * vec, y, missing.get(k) * vec, vec);
            }
        }
        int h = pipeline.latentSide(settings.height()), w = pipeline.latentSide(settings.width());
        return new Conditioning(Tensors.create(m, txt, new Shape(b, l, p.contextInDim())), Tensors.create(m, y, new Shape(b, vec)),
                m.zeros(new Shape(b, l, 3)), PackedLatents.imageIds(m, b, h, w));
    }

    private static float[] concat(float[] a, float[] b) {
        if (a == null) return b;
        float[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Override
    public int latentTokens() {
        return (pipeline.latentSide(settings.height()) / 2) * (pipeline.latentSide(settings.width()) / 2);
    }

    @Override
    public int textTokens() {
        return settings.maxSequenceLength();
    }

    @Override
    public boolean shiftSchedule() {
        return flux.config().guidanceEmbed();
    }

    @Override
    public int defaultSteps() {
        return settings.steps();
    }

    @Override
    public float defaultGuidance() {
        return settings.guidance();
    }

    @Override
    public int workImages() {
        return 1;
    }

    @Override
    public int[] calibrationSplit() {
        return settings.split();
    }

    @Override
    public int probeImages() {
        return settings.probeImages() == null ? 0 : settings.probeImages();
    }

    @Override
    public String judgeMissing() {
        return settings.clip() == null ? "give --clip DIR (a Hugging Face CLIPModel folder, e.g. openai/clip-vit-large-patch14)" : null;
    }

    @Override
    public List<RgbImage> generate(List<String> prompts, long[] seeds, int steps, float guidance, int batch) {
        if (prompts.size() != seeds.length) throw new IllegalArgumentException(prompts.size() + " prompts for " + seeds.length + " seeds");
        List<RgbImage> out = new ArrayList<>(prompts.size());
        int h = pipeline.latentSide(settings.height()), w = pipeline.latentSide(settings.width());
        for (int from = 0; from < prompts.size(); from += batch) {
            int to = Math.min(prompts.size(), from + batch);
            try (NDManager m = manager.newSubManager()) {
                Conditioning c = condition(prompts.subList(from, to), m);
                NDArray noise = pipeline.noise(java.util.Arrays.copyOfRange(seeds, from, to), settings.width(), settings.height(), m);
                NDArray packed = pipeline.denoise(flux, new FluxPipeline.Conditioning(c.txt(), c.y()), noise, steps, guidance, null);
                NDArray image = autoEncoder().decode(PackedLatents.unpack(packed, h, w));
                out.addAll(RgbImage.fromDecoded(image.toType(DataType.FLOAT32, false)));
            }
        }
        return out;
    }

    /** The autoencoder, loaded at first use and kept (it is small beside the transformer). */
    private AutoEncoder autoEncoder() {
        if (autoEncoder == null) autoEncoder = pipeline.loadAutoEncoder(manager);
        return autoEncoder;
    }

    private ClipModel clip() {
        if (settings.clip() == null) throw new IllegalArgumentException("judging FLUX.1 images needs CLIP: " + judgeMissing());
        if (clip == null) clip = ClipModel.load(settings.clip(), manager);
        return clip;
    }

    /** CLIP score over 100: {@code max(cos(image, prompt), 0)} per image. */
    @Override
    public double[] alignment(List<String> prompts, List<RgbImage> images) {
        if (prompts.size() != images.size()) throw new IllegalArgumentException(prompts.size() + " prompts for " + images.size() + " images");
        double[] out = new double[images.size()];
        for (int from = 0; from < images.size(); from += EVAL_BATCH) {
            int to = Math.min(images.size(), from + EVAL_BATCH);
            float[][] img = clip().imageEmbeds(images.subList(from, to));
            float[][] txt = clip().textEmbeds(prompts.subList(from, to));
            for (int i = 0; i < img.length; i++) out[from + i] = ClipModel.clipScore(img[i], txt[i]) / 100;
        }
        return out;
    }

    @Override
    public double meanAlignment(List<String> prompts, double[] perImage) {
        double s = 0;
        for (double v : perImage) s += v;
        return perImage.length == 0 ? 0 : s / perImage.length;
    }

    /** The CLIP image embedding (L2-normalised). */
    @Override
    public double[] features(RgbImage image) {
        float[] e = clip().imageEmbeds(List.of(image))[0];
        double[] d = new double[e.length];
        for (int i = 0; i < e.length; i++) d[i] = e[i];
        return d;
    }

    @Override
    public int featureDim() {
        return clip().projectionDim();
    }

    /** None: the probe's FD is against the unpruned model's images of the same prompts and seeds. */
    @Override
    public double[][] referenceFeatures(int n, long seed) {
        return null;
    }

    @Override
    public Evaluation<RgbImage> evaluate(List<String> prompts, int seeds, Progress progress) {
        List<String> each = new ArrayList<>();
        long[] noise = new long[prompts.size() * seeds];
        for (int i = 0; i < prompts.size(); i++) {
            for (int k = 0; k < seeds; k++) {
                noise[each.size()] = EVAL_SEED + (long) seeds * i + k;
                each.add(prompts.get(i));
            }
        }
        List<RgbImage> images = new ArrayList<>();
        for (int from = 0; from < each.size(); from += EVAL_BATCH) {
            int to = Math.min(each.size(), from + EVAL_BATCH);
            images.addAll(generate(each.subList(from, to), java.util.Arrays.copyOfRange(noise, from, to), settings.steps(),
                    settings.guidance(), EVAL_BATCH));
            if (progress != null) progress.done(images.size(), each.size());
        }
        double[] align = alignment(each, images);
        JsonObject r = new JsonObject();
        r.addProperty("images", images.size());
        // the report's columns: overall = the mean CLIP score; fd = none against a reference set (see fidelity)
        r.addProperty("overall", 100 * meanAlignment(each, align));
        r.addProperty("metric", "overall: mean CLIP score, 100 * max(cos, 0)");
        r.add("fd", com.google.gson.JsonNull.INSTANCE);
        r.add("categories", new JsonObject());
        r.addProperty("settings", settings.describe());
        r.addProperty("not_measured", "HPSv2 and GenEval's object detector are out of scope");
        return new Evaluation<>(r, images);
    }

    /** Fréchet distance on CLIP image embeddings between the two sets, where there are more images than dimensions. */
    /** Pixel MSE (in [0, 1] units) below which two images count as the same picture, as the Shapes world counts it. */
    static final double SAME = 0.002;

    @Override
    public JsonObject fidelity(List<String> prompts, int seeds, List<RgbImage> reference, List<RgbImage> images) {
        if (reference.size() != images.size()) throw new IllegalArgumentException(reference.size() + " reference images for " + images.size());
        JsonObject r = new JsonObject();
        double sum = 0;
        int same = 0;
        for (int i = 0; i < images.size(); i++) {
            double e = mse(reference.get(i), images.get(i));
            sum += e;
            if (e < SAME) same++;
        }
        double mse = images.isEmpty() ? 0 : sum / images.size();
        r.addProperty("mse", mse);
        r.addProperty("psnr_db", mse == 0 ? null : 10 * Math.log10(1 / mse));
        r.addProperty("same", images.isEmpty() ? 0 : (double) same / images.size());
        r.addProperty("same_threshold", SAME);
        r.add("categories", new JsonObject());
        r.addProperty("images", images.size());
        int dim = featureDim();
        if (images.size() <= dim) {
            r.addProperty("clip_fd_not_measured", String.format(Locale.ROOT, "%d images per set; the Fréchet distance on "
                    + "%d-dim CLIP embeddings needs more than %d", images.size(), dim, dim));
            return r;
        }
        double[][] a = new double[reference.size()][];
        double[][] b = new double[images.size()][];
        for (int i = 0; i < a.length; i++) a[i] = features(reference.get(i));
        for (int i = 0; i < b.length; i++) b[i] = features(images.get(i));
        r.addProperty("clip_fd", Frechet.distance(Frechet.fit(a), Frechet.fit(b)));
        return r;
    }

    /** Mean squared difference of two images' pixels in [0, 1]. */
    static double mse(RgbImage a, RgbImage b) {
        if (a.width() != b.width() || a.height() != b.height()) throw new IllegalArgumentException("images differ in size");
        double s = 0;
        byte[] x = a.rgb(), y = b.rgb();
        for (int i = 0; i < x.length; i++) {
            double d = ((x[i] & 0xff) - (y[i] & 0xff)) / 255.0;
            s += d * d;
        }
        return s / x.length;
    }

    /**
     * The pruned model in the layout the base came in ({@link FluxExport}: a diffusers pipeline folder or a BFL file,
     * in the base's dtype, with its licence and a model card); {@code generate --model OUT} loads it.
     */
    @Override
    public void exportPruned(Path baseDir, Path outDir) {
        exportPruned(baseDir, outDir, ExportChoices.DEFAULT);
    }

    @Override
    public void exportPruned(Path baseDir, Path outDir, ExportChoices choices) {
        fastflux.pipeline.export.FluxExport.write(flux, baseDir, outDir,
                fastflux.pipeline.export.ExportOptions.of(choices).withLayout(pipeline.checkpoint().layout()));
    }

    @Override
    public FluxModel loadTransformer(Path modelDir, NDManager m, ai.djl.ndarray.types.DataType dtype) {
        return FluxCheckpoint.open(modelDir).load(m, dtype);
    }

    @Override
    public FluxModel loadTransformer(Path modelDir, NDManager m, ai.djl.ndarray.types.DataType dtype,
                                     java.util.function.Predicate<String> only) {
        return FluxCheckpoint.open(modelDir).load(m, dtype, only);
    }

    @Override
    public void describeExport(Path outDir, JsonObject report) {
        fastflux.pipeline.export.ModelCard.update(outDir, report);
    }
}
