package fastflux.pipeline;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import fastflux.model.io.IoErrors;
import fastflux.sampling.Schedule;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The flow-matching timestep schedule of a FLUX.1 pipeline: {@code linspace(1, 0, steps + 1)}, then shifted towards
 * high noise. A dynamic shift (FLUX.1-dev) takes {@code mu} on the line through ({@code baseSeqLen}, {@code baseShift})
 * and ({@code maxSeqLen}, {@code maxShift}) at the image's token count and maps {@code t -> e^mu / (e^mu + 1/t - 1)};
 * a static one maps {@code t -> s t / (1 + (s - 1) t)}, which for {@code s = 1} (FLUX.1-schnell) is no shift.
 * Arithmetic in float32 as the reference's tensors; with the reference's constants it is {@link Schedule} exactly.
 *
 * @param dynamic whether the shift depends on the image's token count ({@code use_dynamic_shifting})
 * @param baseShift mu at {@code baseSeqLen} tokens ({@code base_shift})
 * @param maxShift mu at {@code maxSeqLen} tokens ({@code max_shift})
 * @param baseSeqLen {@code base_image_seq_len}
 * @param maxSeqLen {@code max_image_seq_len}
 * @param shift the static shift when not dynamic ({@code shift}; 1 is none)
 */
public record FlowSchedule(boolean dynamic, double baseShift, double maxShift, int baseSeqLen, int maxSeqLen,
                           double shift) {
    /** The BFL reference's shifted schedule (FLUX.1-dev). */
    public static final FlowSchedule SHIFTED = new FlowSchedule(true, Schedule.BASE_SHIFT, Schedule.MAX_SHIFT, 256, 4096, 1.0);
    /** No shift (FLUX.1-schnell). */
    public static final FlowSchedule UNSHIFTED = new FlowSchedule(false, Schedule.BASE_SHIFT, Schedule.MAX_SHIFT, 256, 4096, 1.0);

    public FlowSchedule {
        if (dynamic && maxSeqLen == baseSeqLen) {
            throw new IllegalArgumentException("a dynamic shift needs max_image_seq_len != base_image_seq_len, both are " + baseSeqLen);
        }
        if (!(shift > 0)) throw new IllegalArgumentException("shift must be > 0, got " + shift);
    }

    /** The reference's rule: shifted for a guidance-distilled model (dev), unshifted otherwise (schnell). */
    public static FlowSchedule reference(boolean shifted) {
        return shifted ? SHIFTED : UNSHIFTED;
    }

    /**
     * A diffusers {@code scheduler/scheduler_config.json} ({@code FlowMatchEulerDiscreteScheduler}); absent fields take
     * diffusers' defaults.
     */
    public static FlowSchedule read(Path config) {
        JsonObject o;
        try {
            JsonElement e = JsonParser.parseString(Files.readString(config));
            if (!e.isJsonObject()) throw new IllegalArgumentException(config + ": expected a JSON object");
            o = e.getAsJsonObject();
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the scheduler config: " + IoErrors.describe(e), e);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(config + ": invalid JSON: " + e.getMessage(), e);
        }
        try {
            return new FlowSchedule(
                    o.has("use_dynamic_shifting") && o.get("use_dynamic_shifting").getAsBoolean(),
                    number(o, "base_shift", 0.5), number(o, "max_shift", 1.15),
                    (int) number(o, "base_image_seq_len", 256), (int) number(o, "max_image_seq_len", 4096),
                    number(o, "shift", 1.0));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(config + ": " + e.getMessage(), e);
        }
    }

    private static double number(JsonObject o, String key, double fallback) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) return fallback;
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new IllegalArgumentException("\"" + key + "\" must be a number, got " + e);
        }
        return e.getAsDouble();
    }

    /** mu for an image of {@code imageSeqLen} tokens (dynamic shift). */
    public double mu(int imageSeqLen) {
        double m = (maxShift - baseShift) / (maxSeqLen - baseSeqLen);
        double b = baseShift - m * baseSeqLen;
        return m * imageSeqLen + b;
    }

    /** The {@code steps + 1} times from 1 down to 0 for an image of {@code imageSeqLen} tokens. */
    public float[] timesteps(int steps, int imageSeqLen) {
        float[] t = Schedule.timesteps(steps, imageSeqLen, false); // the plain linspace
        if (dynamic) {
            float e = (float) Math.exp(mu(imageSeqLen));
            for (int i = 0; i < t.length; i++) t[i] = e / (e + (1f / t[i] - 1f)); // t = 0 stays 0, as in torch
        } else if (shift != 1.0) {
            float s = (float) shift;
            for (int i = 0; i < t.length; i++) t[i] = s * t[i] / (1f + (s - 1f) * t[i]);
        }
        return t;
    }
}
