package fastflux.pipeline.layout;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.ModelDir;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import fastflux.model.io.SafetensorsReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A FLUX.1 transformer checkpoint in one of the directory layouts users have, recognised from what the directory
 * holds:
 *
 * <ul>
 *   <li>{@link Layout#DIFFUSERS}: a FluxPipeline folder ({@code model_index.json}, {@code transformer/} with
 *       {@code config.json} and one or sharded {@code diffusion_pytorch_model*.safetensors});
 *   <li>{@link Layout#BFL}: the BFL release ({@code flux1-dev.safetensors} or a file of any name with BFL key
 *       names, beside {@code ae.safetensors}); an optional {@code config.json} with {@code params} gives sizes
 *       other than FLUX.1-dev and -schnell, and its {@code "replaced"} list a pruned model's replaced blocks;
 *   <li>{@link Layout#FASTFLUX}: the project's own model directory ({@code config.json} with {@code params} and
 *       {@code model.safetensors}, pruned or not), loaded by {@link ModelDir}.
 * </ul>
 *
 * A directory with {@code model_index.json} is read as diffusers unless BFL is asked for: the BFL release ships
 * both layouts in one folder. Quantized checkpoints (fp8, GGUF, bitsandbytes) are refused by name.
 */
public final class FluxCheckpoint {

    /** The directory layouts, by the names the command line uses ({@code --layout bfl}). */
    public enum Layout {
        DIFFUSERS, BFL, FASTFLUX;

        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** @throws IllegalArgumentException naming the known layouts */
        public static Layout parse(String name) {
            for (Layout l : values()) if (l.cliName().equalsIgnoreCase(name)) return l;
            throw new IllegalArgumentException("unknown layout '" + name + "'; known: diffusers, bfl, fastflux");
        }
    }

    static final String MODEL_INDEX = "model_index.json";

    private final Path dir;
    private final Layout layout;
    private final FluxParams params;
    private final Path weights; // the transformer file, the diffusers transformer folder, or model.safetensors
    private final String paramsSource;

    private FluxCheckpoint(Path dir, Layout layout, FluxParams params, Path weights, String paramsSource) {
        this.dir = dir;
        this.layout = layout;
        this.params = params;
        this.weights = weights;
        this.paramsSource = paramsSource;
    }

    /** The checkpoint in {@code dir}, its layout recognised. */
    public static FluxCheckpoint open(Path dir) {
        return open(dir, null);
    }

    /**
     * The checkpoint in {@code dir} read in the {@code requested} layout, or the recognised one when null. Reads
     * configs and safetensors headers only.
     *
     * @throws IllegalArgumentException saying what was looked for when the directory is none of the layouts (or
     *     not the requested one), or naming the quantization of a quantized checkpoint
     */
    public static FluxCheckpoint open(Path dir, Layout requested) {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException(dir + " is not a directory");
        QuantizedCheckpoints.refuseGguf(dir);
        boolean diffusers = Files.isRegularFile(dir.resolve(MODEL_INDEX));
        if (requested == Layout.DIFFUSERS || (requested == null && diffusers)) {
            if (!diffusers) throw notLayout(dir, Layout.DIFFUSERS);
            return openDiffusers(dir);
        }
        if (requested == Layout.FASTFLUX || (requested == null && isFastflux(dir))) {
            if (!isFastflux(dir)) throw notLayout(dir, Layout.FASTFLUX);
            Path file = ModelDir.weightsFile(dir);
            QuantizedCheckpoints.refuse(SafetensorsHeader.read(file));
            return new FluxCheckpoint(dir, Layout.FASTFLUX, ModelDir.readParams(dir), file,
                    dir.resolve("config.json") + " params");
        }
        Path bfl = BflWeights.findTransformer(dir);
        if (bfl != null) return openBfl(dir, bfl);
        throw notLayout(dir, requested);
    }

    private static FluxCheckpoint openDiffusers(Path dir) {
        Path index = dir.resolve(MODEL_INDEX);
        JsonObject root = DiffusersTransformer.readJson(index);
        JsonElement t = root.get("transformer");
        if (t == null || !t.isJsonArray() || t.getAsJsonArray().size() != 2
                || !t.getAsJsonArray().get(1).getAsString().equals("FluxTransformer2DModel")) {
            throw new IllegalArgumentException(index + ": not a FLUX pipeline (\"transformer\" is " + t
                    + ", expected [\"diffusers\", \"FluxTransformer2DModel\"])");
        }
        Path transformer = dir.resolve("transformer");
        try (DiffusersTransformer d = DiffusersTransformer.open(transformer)) {
            return new FluxCheckpoint(dir, Layout.DIFFUSERS, d.params(), transformer,
                    transformer.resolve("config.json").toString());
        }
    }

    private static FluxCheckpoint openBfl(Path dir, Path file) {
        Path config = dir.resolve("config.json");
        if (Files.isRegularFile(config) && hasParams(config)) {
            return new FluxCheckpoint(dir, Layout.BFL, ModelDir.readParams(dir), file, config + " params");
        }
        FluxParams p = BflWeights.recognise(SafetensorsHeader.read(file));
        String name = p.guidanceEmbed() ? "FLUX.1-dev" : "FLUX.1-schnell";
        return new FluxCheckpoint(dir, Layout.BFL, p, file, "recognised as " + name + " from the weights");
    }

    private static boolean isFastflux(Path dir) {
        Path config = dir.resolve("config.json");
        return Files.isRegularFile(config) && Files.isRegularFile(dir.resolve("model.safetensors")) && hasParams(config);
    }

    private static boolean hasParams(Path config) {
        JsonObject o = DiffusersTransformer.readJson(config);
        return o.has("params") && o.get("params").isJsonObject();
    }

    private static IllegalArgumentException notLayout(Path dir, Layout requested) {
        String diffusers = "a diffusers FluxPipeline folder (" + MODEL_INDEX + " and transformer/)";
        String bfl = "a BFL transformer file (a .safetensors file with key names such as "
                + BflWeights.MARKER_KEY + ", beside " + BflWeights.AUTOENCODER_FILE + ")";
        String own = "a fastflux model directory (config.json with \"params\" and model.safetensors)";
        String wanted = requested == null ? diffusers + ", " + bfl + " or " + own
                : switch (requested) {
                    case DIFFUSERS -> diffusers;
                    case BFL -> bfl;
                    case FASTFLUX -> own;
                };
        return new IllegalArgumentException(dir + " is not a FLUX.1 checkpoint: looked for " + wanted
                + "; found " + listing(dir));
    }

    private static String listing(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            List<String> names = s.map(p -> p.getFileName() + (Files.isDirectory(p) ? "/" : "")).sorted().toList();
            if (names.isEmpty()) return "an empty directory";
            return names.size() <= 12 ? String.join(", ", names)
                    : String.join(", ", names.subList(0, 12)) + " and " + (names.size() - 12) + " more";
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
    }

    public Path dir() {
        return dir;
    }

    public Layout layout() {
        return layout;
    }

    public FluxParams params() {
        return params;
    }

    /** The transformer's weights: the BFL file, the diffusers {@code transformer/} folder or model.safetensors. */
    public Path weights() {
        return weights;
    }

    /**
     * The blocks the checkpoint's config lists as replaced (a pruned model, docs/export-format.md): {@code "replaced"}
     * of {@code config.json} (fastflux, BFL) or of {@code transformer/config.json} (diffusers); empty for a full model.
     */
    public List<Replacement> replaced() {
        return switch (layout) {
            case FASTFLUX -> ModelDir.readReplaced(dir);
            case DIFFUSERS -> {
                try (DiffusersTransformer d = DiffusersTransformer.open(weights)) {
                    yield d.replaced();
                }
            }
            case BFL -> Files.isRegularFile(dir.resolve("config.json")) && hasParams(dir.resolve("config.json"))
                    ? ModelDir.readReplaced(dir) : List.of();
        };
    }

    /** Where the params came from: a config file, or the weights of a recognised release. */
    public String paramsSource() {
        return paramsSource;
    }

    /**
     * The transformer with its weights loaded in {@code dtype} (FLOAT32 or FLOAT16) into {@code manager}. Every
     * missing, unexpected and mis-shaped tensor is named in one error, with its file.
     */
    public FluxModel load(NDManager manager, DataType dtype) {
        return load(manager, dtype, name -> true);
    }

    /** As {@link #load(NDManager, DataType)}, every tensor checked but only the parameters {@code only} accepts read. */
    public FluxModel load(NDManager manager, DataType dtype, java.util.function.Predicate<String> only) {
        return switch (layout) {
            case FASTFLUX -> ModelDir.load(dir, manager, dtype, Set.of(), only);
            case DIFFUSERS -> {
                try (DiffusersTransformer d = DiffusersTransformer.open(weights)) {
                    yield d.load(manager, dtype, only);
                }
            }
            case BFL -> {
                FluxModel model = new FluxModel(params);
                List<Replacement> replaced = replaced();
                PrunedModels.apply(model, replaced);
                try (SafetensorsReader reader = SafetensorsReader.open(weights)) {
                    ModelDir.loadWeights(model.params(), reader, Set.of(), manager, dtype, replaced, only);
                }
                model.setDtype(dtype);
                yield model;
            }
        };
    }

    @Override
    public String toString() {
        return layout.cliName() + " checkpoint " + dir + " (" + params + ", " + paramsSource + ")";
    }
}
