package fastflux.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import fastflux.pipeline.FluxPipeline;
import fastflux.pipeline.RgbImage;
import fastflux.pipeline.layout.FluxCheckpoint;
import fastflux.shapes.Image;
import fastflux.shapes.Png;
import fastflux.shapes.PromptGrammar;
import fastflux.shapes.ShapesModel;
import fastflux.world.Worlds;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code fastflux generate}: with a Shapes model, a PNG grid of images for one prompt, upscaled so a person can see
 * it; with a FLUX.1 directory (diffusers or BFL), one PNG per prompt as the BFL reference CLI writes it.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"generate images for a prompt with a Shapes model and write an upscaled PNG grid,",
                "or images for prompts with a FLUX.1 model (a diffusers folder or the BFL files) and write one PNG each"})
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR",
            description = "a Shapes model directory, full or pruned, or a FLUX.1 directory (diffusers or BFL) "
                    + "(default: the embedded models/shapes-tiny)")
    Path dir;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "the prompt (for a Shapes model, in the Shapes grammar)")
    String prompt;

    @Option(names = "--prompts", paramLabel = "FILE", description = "FLUX.1: prompts, one a line (blank lines skipped)")
    Path promptsFile;

    @Option(names = "--seeds", paramLabel = "N", description = "Shapes: images in the grid, seeds S .. S+N-1 (default 4)")
    Integer n;

    @Option(names = "--seed-base", paramLabel = "S", description = "Shapes: the first seed (default 0)")
    Long base;

    @Option(names = "--steps", paramLabel = "N", description = "Euler steps (default: Shapes " + ShapesModel.DEFAULT_STEPS
            + ", FLUX.1-dev " + FluxPipeline.DEV_STEPS + ", FLUX.1-schnell " + FluxPipeline.SCHNELL_STEPS + ")")
    Integer steps;

    @Option(names = "--guidance", paramLabel = "G", description = "Shapes: classifier-free guidance scale (default "
            + ShapesModel.DEFAULT_GUIDANCE + "); FLUX.1-dev: the embedded guidance (default " + FluxPipeline.DEV_GUIDANCE
            + "; schnell has none)")
    Double guidance;

    @Option(names = "--scale", paramLabel = "X", description = "Shapes: upscaling factor of the grid (default 8)")
    Integer scale;

    @Option(names = "--width", paramLabel = "PX", description = "FLUX.1: image width, a multiple of 16 (default "
            + FluxPipeline.DEFAULT_SIZE + ", or the --noise's)")
    Integer width;

    @Option(names = "--height", paramLabel = "PX", description = "FLUX.1: image height, a multiple of 16 (default "
            + FluxPipeline.DEFAULT_SIZE + ", or the --noise's)")
    Integer height;

    @Option(names = "--seed", paramLabel = "S", description = "FLUX.1: image k's noise from seed S+k (default 0)")
    Long seed;

    @Option(names = "--noise", paramLabel = "FILE.safetensors",
            description = "FLUX.1: the starting latents, tensor \"noise\" [prompts, 16, H/8, W/8], instead of seeded noise")
    Path noise;

    @Option(names = "--max-sequence-length", paramLabel = "N", description = "FLUX.1: T5 tokens per prompt (default: dev "
            + FluxPipeline.DEV_MAX_SEQUENCE_LENGTH + ", schnell " + FluxPipeline.SCHNELL_MAX_SEQUENCE_LENGTH + ")")
    Integer maxSequenceLength;

    @Option(names = "--layout", paramLabel = "diffusers|bfl", description = "FLUX.1: read --model in this layout (default: recognised)")
    String layout;

    @Option(names = "--text-encoders", paramLabel = "DIR", description = "FLUX.1: the folder with text_encoder/, "
            + "text_encoder_2/, tokenizer/ and tokenizer_2/ (default: --model's; a diffusers FLUX.1 folder will do)")
    Path textEncoders;

    @Option(names = "--dtype", paramLabel = "fp32|fp16", description = "FLUX.1: compute precision (default fp32)")
    String dtype;

    @Option(names = "--out", required = true, paramLabel = "FILE.png",
            description = "the grid; for FLUX.1 the image, or with several prompts FILE-K.png beside it (K from 0)")
    Path out;

    @Override
    public Integer call() throws Exception {
        fastflux.model.io.OutputPaths.requireWritableFile(out, "--out");
        if (dir != null && isFluxPipeline(dir)) return flux();
        List<String> fluxOnly = new ArrayList<>();
        if (promptsFile != null) fluxOnly.add("--prompts");
        if (width != null) fluxOnly.add("--width");
        if (height != null) fluxOnly.add("--height");
        if (seed != null) fluxOnly.add("--seed");
        if (noise != null) fluxOnly.add("--noise");
        if (maxSequenceLength != null) fluxOnly.add("--max-sequence-length");
        if (dtype != null) fluxOnly.add("--dtype");
        if (!fluxOnly.isEmpty()) {
            throw new UsageException(String.join(", ", fluxOnly) + ": for a FLUX.1 model; a Shapes model takes --prompt, "
                    + "--seeds, --seed-base, --steps, --guidance and --scale");
        }
        return shapes();
    }

    /** A FLUX.1 directory: a diffusers folder, BFL files, or a transformer without a text encoder given one. */
    private boolean isFluxPipeline(Path dir) {
        if (layout != null || Files.isRegularFile(dir.resolve("model_index.json"))) return true;
        if (!Files.isRegularFile(dir.resolve("model.safetensors"))) return Files.isDirectory(dir);
        return textEncoders != null && Worlds.providerOf(dir) == null;
    }

    private int shapes() throws IOException {
        if (prompt == null) throw new UsageException("Missing required option: '--prompt=TEXT'");
        Path dir = this.dir != null ? this.dir : ShapesModel.defaultDir();
        int n = this.n != null ? this.n : 4;
        long base = this.base != null ? this.base : 0;
        int scale = this.scale != null ? this.scale : 8;
        int steps = this.steps != null ? this.steps : ShapesModel.DEFAULT_STEPS;
        float guidance = this.guidance != null ? (float) (double) this.guidance : ShapesModel.DEFAULT_GUIDANCE;
        if (n < 1) throw new UsageException("--seeds must be >= 1");
        if (!prompt.isEmpty()) PromptGrammar.parse(prompt); // names what is outside the grammar
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = ShapesModel.load(dir, m);
            long[] seeds = new long[n];
            for (int i = 0; i < n; i++) seeds[i] = base + i;
            List<Image> images = model.generate(new ArrayList<>(Collections.nCopies(n, prompt)), seeds, steps, guidance, 16);
            Png.writeGrid(images, Math.min(n, 8), scale, out);
            System.out.println("wrote " + n + " images for \"" + prompt + "\" to " + out);
        }
        return 0;
    }

    private int flux() throws IOException {
        List<String> shapesOnly = new ArrayList<>();
        if (n != null) shapesOnly.add("--seeds");
        if (base != null) shapesOnly.add("--seed-base");
        if (scale != null) shapesOnly.add("--scale");
        if (!shapesOnly.isEmpty()) throw new UsageException(String.join(", ", shapesOnly) + ": for a Shapes model; FLUX.1 takes --seed S (image k from S+k)");
        List<String> prompts = prompts();
        FluxCheckpoint.Layout l = null;
        if (layout != null) {
            try {
                l = FluxCheckpoint.Layout.parse(layout);
            } catch (IllegalArgumentException e) {
                throw new UsageException("--layout: " + e.getMessage());
            }
        }
        FluxPipeline pipeline = FluxPipeline.open(dir, new FluxPipeline.Options(l, textEncoders,
                Dtypes.parse(dtype != null ? dtype : "fp32")));
        FluxPipeline.Settings d = pipeline.defaultSettings();
        FluxPipeline.Settings settings = new FluxPipeline.Settings(width != null ? width : d.width(),
                height != null ? height : d.height(), steps != null ? steps : d.steps(),
                guidance != null ? (float) (double) guidance : d.guidance(),
                maxSequenceLength != null ? maxSequenceLength : d.maxSequenceLength());
        List<RgbImage> images;
        // one bar for the batch: every image of the call advances through the sampler steps together
        ProgressBar bar = new ProgressBar("generate", System.err);
        int totalSteps = settings.steps();
        FluxPipeline.StepListener progress = (k, x) -> bar.update(k + 1, totalSteps,
                prompts.size() + " image(s), step " + (k + 1) + "/" + totalSteps);
        if (noise != null) {
            try (NDManager m = NDManager.newBaseManager(); NDArray x = FluxPipeline.readNoise(noise, m)) {
                long[] s = x.getShape().getShape();
                int f = pipeline.autoEncoderParams().downsamplingFactor();
                int w = (int) s[3] * f, h = (int) s[2] * f;
                if ((width != null && width != w) || (height != null && height != h)) {
                    throw new UsageException("--noise " + noise + " " + x.getShape() + " is for " + w + "x" + h
                            + " images, not --width " + settings.width() + " --height " + settings.height());
                }
                if (s[0] != prompts.size()) {
                    throw new IllegalArgumentException("--noise " + noise + " holds " + s[0] + " rows for " + prompts.size() + " prompt(s)");
                }
                images = pipeline.generate(prompts, x, settings.withSize(w, h), progress);
            }
        } else {
            pipeline.requireValidSize(settings.width(), settings.height());
            images = pipeline.generate(prompts, seed != null ? seed : 0, settings, progress);
        }
        bar.done();
        List<Path> files = outputs(prompts.size());
        for (int k = 0; k < images.size(); k++) images.get(k).writePng(files.get(k));
        System.out.println("wrote " + images.size() + " image(s) of " + images.get(0).width() + "x" + images.get(0).height()
                + " to " + (files.size() == 1 ? files.get(0) : files.get(0) + " .. " + files.get(files.size() - 1)));
        return 0;
    }

    private List<String> prompts() throws IOException {
        if ((prompt == null) == (promptsFile == null)) throw new UsageException("give one of --prompt TEXT and --prompts FILE");
        if (prompt != null) return List.of(prompt);
        List<String> lines;
        try {
            lines = Files.readAllLines(promptsFile);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(promptsFile + ": no such file or directory");
        }
        List<String> prompts = lines.stream().filter(s -> !s.isBlank()).toList();
        if (prompts.isEmpty()) throw new IllegalArgumentException(promptsFile + " holds no prompts");
        return prompts;
    }

    /** {@code --out} for one image; {@code NAME-K.EXT} beside it for several. */
    private List<Path> outputs(int count) {
        if (count == 1) return List.of(out);
        String name = out.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name, ext = dot > 0 ? name.substring(dot) : "";
        List<Path> files = new ArrayList<>(count);
        for (int k = 0; k < count; k++) files.add(out.resolveSibling(stem + "-" + k + ext));
        return files;
    }
}
