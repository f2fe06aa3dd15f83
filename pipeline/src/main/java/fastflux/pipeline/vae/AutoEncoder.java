package fastflux.pipeline.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.model.Module;
import fastflux.model.Param;
import fastflux.model.Tensors;
import fastflux.model.io.DType;
import fastflux.model.io.IoErrors;
import fastflux.model.io.SafetensorsReader;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * FLUX.1's autoencoder (the reference's {@code AutoEncoder}, diffusers' {@code AutoencoderKL} without quant convs):
 * an image in [-1, 1] to 16-channel latents at 1/8 of its side and back. Latents are scaled and shifted as FLUX's
 * transformer expects them: {@link #encode} gives {@code (z - shift) * scale}, {@link #decode} takes it.
 *
 * <p>The weights live in the manager given at load; the model is for inference (its blocks free their
 * intermediates as they go). Inputs may be fp32 or fp16; outputs are fp32.
 */
public final class AutoEncoder extends Module {
    /** The diffusers layout's weights file in a {@code vae/} folder. */
    public static final String DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors";

    private final AutoEncoderParams params;
    private final Encoder encoder;
    private final Decoder decoder;
    private DataType dtype = DataType.FLOAT32;

    public AutoEncoder(AutoEncoderParams p) {
        super("");
        this.params = p;
        this.encoder = new Encoder("encoder.", p);
        this.decoder = new Decoder("decoder.", p);
    }

    public AutoEncoderParams config() {
        return params;
    }

    /** The compute dtype (FLOAT32 or FLOAT16) the weights were loaded in. */
    public DataType dtype() {
        return dtype;
    }

    public Encoder encoder() {
        return encoder;
    }

    public Decoder decoder() {
        return decoder;
    }

    /**
     * The latent: the encoder's Gaussian's mean, then {@code (z - shift_factor) * scale_factor}. The BFL
     * reference's {@code DiagonalGaussian} samples by default ({@code sample=True}); its deterministic mode takes the
     * mean, which is what the reference fixtures record. {@link #encode(NDArray, NDArray)} samples with given noise.
     */
    // image [B, in_channels, H, W] -> [B, z_channels, H/8, W/8] fp32
    public NDArray encode(NDArray image) {
        try (NDArray moments = moments(image); NDArray mean = moments.get(new NDIndex(":, 0:{}", params.zChannels()))) {
            return scaleAndShift(mean);
        }
    }

    /**
     * A sample of the encoder's Gaussian, {@code mean + exp(logvar / 2) * noise}, scaled and shifted as
     * {@link #encode}: the reference's sampling path with the noise given.
     */
    // image [B, in_channels, H, W], noise [B, z_channels, H/8, W/8] -> [B, z_channels, H/8, W/8] fp32
    public NDArray encode(NDArray image, NDArray noise) {
        int z = params.zChannels();
        try (NDArray moments = moments(image);
             NDArray mean = moments.get(new NDIndex(":, 0:{}", z));
             NDArray logvar = moments.get(new NDIndex(":, {}:", z));
             NDArray halfLogvar = Tensors.mul(logvar, 0.5f);
             NDArray std = halfLogvar.exp();
             NDArray noise32 = noise.toType(DataType.FLOAT32, true);
             NDArray sample = mean.add(std.mul(noise32))) {
            return scaleAndShift(sample);
        }
    }

    /** The encoder's raw output: the Gaussian's mean and log-variance stacked on the channels, in fp32. */
    // image [B, in_channels, H, W] -> [B, 2 z_channels, H/8, W/8] fp32
    public NDArray moments(NDArray image) {
        requireChannels("image", image, params.inChannels());
        try (NDArray x = image.toType(dtype, true)) {
            NDArray out = encoder.forward(x);
            if (out.getDataType() == DataType.FLOAT32) return out;
            try (out) {
                return out.toType(DataType.FLOAT32, true);
            }
        }
    }

    // z [B, z, h, w] fp32 -> (z - shift) * scale
    private NDArray scaleAndShift(NDArray z) {
        try (NDArray centred = Tensors.add(z, (float) -params.shiftFactor())) {
            return Tensors.mul(centred, (float) params.scaleFactor());
        }
    }

    /** The image: {@code latent / scale_factor + shift_factor}, then the decoder (not clamped). */
    // latent [B, z_channels, h, w] -> [B, out_ch, 8h, 8w] fp32
    public NDArray decode(NDArray latent) {
        requireChannels("latent", latent, params.zChannels());
        NDArray z;
        try (NDArray l32 = latent.toType(DataType.FLOAT32, true); NDArray unscaled = Tensors.div(l32, (float) params.scaleFactor());
             NDArray shifted = Tensors.add(unscaled, (float) params.shiftFactor())) {
            z = shifted.toType(dtype, true);
        }
        try (z) {
            NDArray out = decoder.forward(z);
            if (out.getDataType() == DataType.FLOAT32) return out;
            try (out) {
                return out.toType(DataType.FLOAT32, true);
            }
        }
    }

    private static void requireChannels(String what, NDArray x, int channels) {
        Shape s = x.getShape();
        if (s.dimension() != 4 || s.get(1) != channels) {
            throw new IllegalArgumentException("the autoencoder takes a " + what + " [B, " + channels + ", H, W], got " + s);
        }
    }

    // ---------------------------------------------------------------- loading

    /** BFL's {@code ae.safetensors} with the given architecture, weights in {@code dtype} owned by {@code manager}. */
    public static AutoEncoder loadBfl(Path file, AutoEncoderParams p, NDManager manager, DataType dtype) {
        return load(file, AutoEncoderLayout.BFL, p, manager, dtype);
    }

    /** A diffusers {@code vae/} folder: {@code config.json} and {@value #DIFFUSERS_WEIGHTS}. */
    public static AutoEncoder loadDiffusers(Path vaeDir, NDManager manager, DataType dtype) {
        return load(vaeDir.resolve(DIFFUSERS_WEIGHTS), AutoEncoderLayout.DIFFUSERS, readDiffusersParams(vaeDir), manager, dtype);
    }

    /** One checkpoint file in {@code layout}. */
    public static AutoEncoder load(Path file, AutoEncoderLayout layout, AutoEncoderParams p, NDManager manager, DataType dtype) {
        if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT16) {
            throw new IllegalArgumentException("the autoencoder runs in FLOAT32 or FLOAT16, not " + dtype);
        }
        AutoEncoder ae = new AutoEncoder(p);
        try (SafetensorsReader reader = SafetensorsReader.open(file)) {
            AutoEncoderWeights.load(ae, reader, layout, manager, dtype);
        } catch (RuntimeException e) {
            for (Param param : ae.params().values()) if (param.hasValue()) param.value().close();
            throw e;
        }
        ae.dtype = dtype;
        return ae;
    }

    /** The architecture from a diffusers {@code vae/config.json}. */
    public static AutoEncoderParams readDiffusersParams(Path vaeDir) {
        Path config = vaeDir.resolve("config.json");
        try (Reader r = Files.newBufferedReader(config)) {
            JsonObject o = JsonParser.parseReader(r).getAsJsonObject();
            return AutoEncoderParams.fromDiffusersConfig(o);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the autoencoder config: " + IoErrors.describe(e), e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(config + ": " + e.getMessage(), e);
        }
    }

    /** Writes the weights in {@code layout}, stored as {@code dtype}. */
    public void save(Path file, AutoEncoderLayout layout, DType dtype) {
        AutoEncoderWeights.save(this, file, layout, dtype);
    }

    @Override
    protected void collect(Map<String, Param> out) {
        out.putAll(encoder.params());
        out.putAll(decoder.params());
    }
}
