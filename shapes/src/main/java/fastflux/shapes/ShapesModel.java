package fastflux.shapes;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.FluxParamsJson;
import fastflux.model.ModelDir;
import fastflux.model.ParallelInference;
import fastflux.model.Param;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import fastflux.model.Tensors;
import fastflux.model.io.DType;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.SafetensorsWriter;
import fastflux.sampling.EulerSampler;
import fastflux.sampling.Schedule;
import fastflux.world.World;
import com.google.gson.JsonObject;
import java.util.Collection;
import java.util.HashSet;
import java.util.SplittableRandom;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.IntConsumer;

/**
 * The tiny FLUX of the Shapes world: the same transformer class, sampler and conditioning interface as
 * FLUX.1, with the {@link TextEncoder} standing in for T5/CLIP. Generation uses classifier-free guidance
 * (the config embeds no guidance): {@code v = v(∅) + g·(v(prompt) − v(∅))}.
 */
public final class ShapesModel implements World<Image> {
    public static final String CONFIG = "shapes-tiny";
    /** Guidance scale of every generating command unless given. */
    public static final float DEFAULT_GUIDANCE = 4f;
    public static final int DEFAULT_STEPS = 20;

    private final FluxModel flux;
    private final TextEncoder text;

    public ShapesModel(FluxModel flux, TextEncoder text) {
        requireShapesParams(flux.config(), "config");
        this.flux = flux;
        this.text = text;
    }

    /**
     * A random-weight Shapes model for tests and benchmarks: the transformer initialised from {@code seed}, the text
     * encoder's weights N(0, 0.5²) from {@code seed + 1}.
     */
    public static ShapesModel random(FluxParams params, NDManager m, long seed) {
        return random(params, m, seed, false);
    }

    /** As {@link #random(FluxParams, NDManager, long)}, with or without the text encoder's context window. */
    public static ShapesModel random(FluxParams params, NDManager m, long seed, boolean contextWindow) {
        FluxModel flux = new FluxModel(params);
        flux.initRandom(m, DataType.FLOAT32, seed);
        TextEncoder text = new TextEncoder(params.contextInDim(), contextWindow);
        Random r = new Random(seed + 1);
        for (Param p : text.params().values()) {
            float[] v = new float[(int) p.shape().size()];
            for (int i = 0; i < v.length; i++) v[i] = (float) (0.5 * r.nextGaussian());
            p.set(Tensors.create(m, v, p.shape()));
        }
        return new ShapesModel(flux, text);
    }

    @Override
    public FluxModel flux() {
        return flux;
    }

    public TextEncoder text() {
        return text;
    }

    /** Transformer and text-encoder parameters together, by checkpoint name. */
    public Map<String, Param> params() {
        Map<String, Param> all = new LinkedHashMap<>(flux.params());
        all.putAll(text.params());
        return all;
    }

    /** The embedded default model: {@code models/shapes-tiny} under the project (or {@code -Dfastflux.home}). */
    public static Path defaultDir() {
        String home = System.getProperty("fastflux.home", ".");
        return Path.of(home, "models", CONFIG);
    }

    /**
     * Loads a Shapes model directory, full or pruned (its {@code "replaced"} list applied); the checkpoint may hold
     * exactly the transformer's and text_encoder.* names.
     */
    public static ShapesModel load(Path dir, NDManager m) {
        FluxModel flux = ModelDir.build(dir); // a pruned directory's replaced blocks included
        if (!hasTextEncoder(ModelDir.weightsFile(dir))) {
            throw new IllegalArgumentException(dir + " is a FLUX.1 transformer checkpoint (no " + TextEncoder.PREFIX
                    + "* tensors): drawing and judging images needs a Shapes model, which carries its text encoder");
        }
        TextEncoder text = new TextEncoder(flux.config().contextInDim(), hasContextWindow(ModelDir.weightsFile(dir)));
        requireShapesParams(flux.config(), dir.toString());
        ShapesModel model = new ShapesModel(flux, text);
        model.loadWeights(ModelDir.weightsFile(dir), m);
        return model;
    }

    /**
     * What the Shapes world fixes in a FLUX config: its latents are {@link Latents#CHANNELS} channels a token (3
     * colours × 4 × 4 pixels) in and out, and its text encoder pools {@code txt} into {@code y}, so the two widths
     * are equal. {@code what} names the config in the error.
     */
    public static void requireShapesParams(FluxParams p, String what) {
        if (p.inChannels() != Latents.CHANNELS || p.outChannels() != Latents.CHANNELS) {
            throw new IllegalArgumentException(what + ": a Shapes model's latents have " + Latents.CHANNELS
                    + " channels a token, so in_channels and out_channels must be " + Latents.CHANNELS + ", got "
                    + p.inChannels() + " and " + p.outChannels());
        }
        if (p.vecInDim() != p.contextInDim()) {
            throw new IllegalArgumentException(what + ": a Shapes model pools txt into y, so vec_in_dim must equal "
                    + "context_in_dim, got " + p.vecInDim() + " and " + p.contextInDim());
        }
    }

    /** Whether a checkpoint carries a Shapes text encoder ({@code text_encoder.*}); a FLUX.1 transformer one does not. */
    public static boolean hasTextEncoder(Path weights) {
        try (SafetensorsReader r = SafetensorsReader.open(weights)) {
            return r.names().stream().anyMatch(n -> n.startsWith(TextEncoder.PREFIX));
        }
    }

    /** Whether a checkpoint's text encoder has the context window (the embedded model has it; checkpoints without it load without it). */
    static boolean hasContextWindow(Path weights) {
        try (SafetensorsReader r = SafetensorsReader.open(weights)) {
            return r.contains(TextEncoder.CONTEXT_WEIGHT);
        }
    }

    /** Loads weights from a checkpoint into this model's parameters (fp32). */
    public void loadWeights(Path file, NDManager m) {
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            ModelDir.loadWeights(params(), r, Set.of(), m, DataType.FLOAT32, PrunedModels.replacements(flux));
        }
    }

    /**
     * Writes config.json and model.safetensors (fp32, reference names plus text_encoder.*; the replaced blocks'
     * linears and the {@code "replaced"} list when the transformer is pruned). LoRA adapters are not written: use
     * {@link #exportPruned}.
     */
    public void save(Path dir) {
        try {
            Files.createDirectories(dir);
            SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
            for (Param p : params().values()) w.add(p.name(), p.value(), DType.F32);
            w.write(dir.resolve("model.safetensors"));
            JsonObject cfg = new JsonObject();
            cfg.addProperty("model_type", "fastflux-shapes");
            cfg.add("params", FluxParamsJson.toJson(flux.config()));
            List<Replacement> replaced = PrunedModels.replacements(flux);
            if (!replaced.isEmpty()) cfg.add(PrunedModels.REPLACED, PrunedModels.toJson(replaced));
            JsonObject sampling = new JsonObject();
            sampling.addProperty("guidance", DEFAULT_GUIDANCE);
            sampling.addProperty("steps", DEFAULT_STEPS);
            cfg.add("sampling", sampling);
            Path tmp = dir.resolve("config.json.tmp");
            Files.writeString(tmp, new GsonBuilder().setPrettyPrinting().create().toJson(cfg));
            Files.move(tmp, dir.resolve("config.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot save model to " + dir, e);
        }
    }

    /**
     * Writes this model as a pruned directory beside the one it came from ({@link PrunedModels#export}): the base
     * checkpoint's dtype and config keys kept, LoRA merged, the live text encoder under text_encoder.*.
     */
    @Override
    public void exportPruned(Path baseDir, Path outDir) {
        PrunedModels.export(flux, text.params(), baseDir, outDir);
    }

    /** Conditioning arrays of a batch of prompts, created in {@code m}. */
    @Override
    public Conditioning condition(List<String> prompts, NDManager m) {
        NDArray txt = text.txt(text.tokenize(prompts), m);
        int b = prompts.size();
        NDArray txtIds = m.zeros(new Shape(b, text.maxWords(), 3));
        NDArray imgIds = Tensors.create(m, Latents.imgIds(), new Shape(1, Latents.TOKENS, 3)).repeat(0, b);
        return new Conditioning(txt, TextEncoder.pooled(txt), txtIds, imgIds);
    }

    /** The transformer's velocity for latents x [B, 64, 48] at time t (no guidance). */
    public NDArray velocity(NDArray x, NDArray t, Conditioning c) {
        return flux.forward(new FluxInputs(x, c.imgIds(), c.txt(), c.txtIds(), t, c.y(), null));
    }

    /** Seeded Gaussian noise [B, 64, 48]: the starting latents of generation ({@link EulerSampler#noise}). */
    public static NDArray noise(long[] seeds, NDManager m) {
        return EulerSampler.noise(seeds, Latents.TOKENS, Latents.CHANNELS, m);
    }

    /**
     * Generates one image per (prompt, seed) pair with the guided Euler sampler; batched {@code batch} images
     * at a time (each guided step runs the conditional and unconditional halves as one batch), the batches spread
     * over {@link ParallelInference#defaultThreads()} threads. An image depends on its prompt and seed alone.
     */
    @Override
    public List<Image> generate(List<String> prompts, long[] seeds, int steps, float guidance, int batch) {
        return generate(prompts, seeds, steps, guidance, batch, ParallelInference.defaultThreads(), null);
    }

    /**
     * As above on {@code threads} threads (1: this one); {@code progress} (may be null) is told, one call at a
     * time, how many images are done after each batch.
     */
    public List<Image> generate(List<String> prompts, long[] seeds, int steps, float guidance, int batch, int threads,
                                IntConsumer progress) {
        if (prompts.size() != seeds.length) throw new IllegalArgumentException("one seed per prompt is needed");
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        int n = prompts.size();
        int batches = (n + batch - 1) / batch;
        int[] done = {0};
        List<List<Image>> parts = ParallelInference.map(batches, threads, k -> {
            int s = k * batch;
            int e = Math.min(n, s + batch);
            try (NDManager m = NDManager.newBaseManager()) {
                NDArray x = noise(java.util.Arrays.copyOfRange(seeds, s, e), m);
                NDArray x0 = sample(prompts.subList(s, e), x, steps, guidance, m);
                float[] all = x0.toFloatArray();
                int per = Latents.TOKENS * Latents.CHANNELS;
                List<Image> out = new ArrayList<>(e - s);
                for (int i = 0; i < e - s; i++) {
                    float[] tokens = java.util.Arrays.copyOfRange(all, i * per, (i + 1) * per);
                    out.add(Image.fromModelOutput(Latents.unpack(tokens)));
                }
                return out;
            }
        }, k -> {
            done[0] += Math.min(n, (k + 1) * batch) - k * batch;
            if (progress != null) progress.accept(done[0]);
        });
        List<Image> out = new ArrayList<>(n);
        for (List<Image> p : parts) out.addAll(p);
        return out;
    }

    /** The guided Euler loop from latents x [B, 64, 48]; returns the final latents in {@code m}. */
    public NDArray sample(List<String> prompts, NDArray x, int steps, float guidance, NDManager m) {
        int b = prompts.size();
        boolean guided = guidance != 1f;
        List<String> all = new ArrayList<>(prompts);
        if (guided) for (int i = 0; i < b; i++) all.add("");
        Conditioning c = condition(all, m);
        float[] schedule = Schedule.timesteps(steps, Latents.TOKENS, true);
        return EulerSampler.sample(x, schedule, (xt, t, scope) -> {
            NDArray xin = guided ? xt.concat(xt, 0) : xt;
            NDArray tv = scope.full(new Shape(xin.getShape().get(0)), t);
            Conditioning sc = c;
            for (NDArray a : new NDArray[] {c.txt(), c.y(), c.txtIds(), c.imgIds()}) a.tempAttach(scope);
            NDArray v = velocity(xin, tv, sc);
            return guided ? EulerSampler.guided(v, guidance) : v;
        }, null);
    }

    // The Shapes world as the pruning method sees it (World): grammar prompts, the judge, the FD feature map.

    @Override
    public List<String> samplePrompts(int n, long seed) {
        return PromptSets.sample(n, seed).stream().map(Prompt::text).toList();
    }

    @Override
    public String describeSample(int n, long seed) {
        return "grammar(n=" + n + ", seed=" + seed + ")";
    }

    @Override
    public List<String> heldOutPrompts(Collection<String> exclude, int n, long seed) {
        if (n <= 0) throw new IllegalArgumentException("a held-out set needs at least one prompt, got " + n);
        Set<String> seen = new HashSet<>(exclude);
        List<String> out = new ArrayList<>(n);
        SplittableRandom r = new SplittableRandom(seed);
        for (long draws = 0; out.size() < n; draws++) {
            if (draws >= 100L * n) {
                throw new IllegalArgumentException("the grammar gave only " + out.size() + " of " + n
                        + " held-out prompts outside the " + exclude.size() + " given prompts");
            }
            String p = ShapesWorld.samplePrompt(r).text();
            if (seen.add(p)) out.add(p);
        }
        return out;
    }

    @Override
    public List<String> readPrompts(Path file) throws IOException {
        return PromptFile.read(file).stream().map(Prompt::text).toList();
    }

    @Override
    public int latentTokens() {
        return Latents.TOKENS;
    }

    @Override
    public int textTokens() {
        return text.maxWords();
    }

    @Override
    public boolean shiftSchedule() {
        return true; // as sample()
    }

    @Override
    public int defaultSteps() {
        return DEFAULT_STEPS;
    }

    @Override
    public float defaultGuidance() {
        return DEFAULT_GUIDANCE;
    }

    /** 32 images, 64 rows with both guidance halves: the batch generation runs. */
    @Override
    public int workImages() {
        return 32;
    }

    /** 1 where the judge finds the prompt's scene in the image, else 0 (GenEval's verdict). */
    @Override
    public double[] alignment(List<String> prompts, List<Image> images) {
        double[] out = new double[images.size()];
        for (int i = 0; i < out.length; i++) out[i] = Judge.correct(prompts.get(i), images.get(i)) ? 1 : 0;
        return out;
    }

    /** GenEval's overall score: the mean over the categories present of each category's share of correct images. */
    @Override
    public double meanAlignment(List<String> prompts, double[] perImage) {
        EvalReport report = new EvalReport();
        for (int i = 0; i < perImage.length; i++) report.add(Prompt.of(prompts.get(i)), perImage[i] > 0.5);
        Double overall = report.overall();
        return overall == null ? 0 : overall;
    }

    @Override
    public double[] features(Image image) {
        return FrechetDistance.features(image);
    }

    @Override
    public int featureDim() {
        return FrechetDistance.FEATURE_DIM;
    }

    /** Features of rendered scenes of the world's training distribution. */
    @Override
    public double[][] referenceFeatures(int n, long seed) {
        List<Image> images = FrechetDistance.referenceImages(n, seed);
        double[][] out = new double[images.size()][];
        for (int i = 0; i < out.length; i++) out[i] = features(images.get(i));
        return out;
    }

    @Override
    public World.Evaluation<Image> evaluate(List<String> prompts, int seeds, World.Progress progress) {
        fastflux.shapes.Evaluation.Options eo = fastflux.shapes.Evaluation.Options.defaults().toBuilder().seeds(seeds)
                .seedBase(0).saveImages(null).build();
        fastflux.shapes.Evaluation.Result r = fastflux.shapes.Evaluation.run(this, prompts.stream().map(Prompt::of).toList(), eo,
                progress == null ? null : progress::done);
        return new World.Evaluation<>(r.report().toJsonObject(), r.images());
    }

    @Override
    public JsonObject fidelity(List<String> prompts, int seeds, List<Image> reference, List<Image> images) {
        return Fidelity.of(prompts.stream().map(Prompt::of).toList(), seeds, reference, images).toJson("base");
    }
}
