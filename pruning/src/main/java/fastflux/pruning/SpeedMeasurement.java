package fastflux.pruning;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import fastflux.model.FlopCount;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.ForwardTimer;
import fastflux.model.Replacement;
import java.util.List;
import java.util.Map;

/**
 * The report's speed figures: forward FLOPs and latency of the pruned and base transformers on one piece of work, for a
 * world's model {@link fastflux.world.World#workImages} images in both guidance halves, for a FLUX.1 checkpoint one
 * image (both halves without a guidance embedding) at the calibration file's latent size and text length.
 */
final class SpeedMeasurement {
    private final FluxParams params;
    private final int rows;
    private final int imgTokens;
    private final int txtTokens;
    private final String work;

    private SpeedMeasurement(FluxParams params, int rows, int imgTokens, int txtTokens, String work) {
        this.params = params;
        this.rows = rows;
        this.imgTokens = imgTokens;
        this.txtTokens = txtTokens;
        this.work = work;
    }

    /** The work of a job on {@code base}, calibrated from {@code file} where it has no world. */
    static SpeedMeasurement of(BaseModel base, PrecomputedCalibrationSource file) {
        FluxParams p = base.flux().config();
        if (base.hasWorld()) {
            var w = base.world("work");
            return new SpeedMeasurement(p, 2 * w.workImages(), w.latentTokens(), w.textTokens(),
                    " = " + w.workImages() + " images x 2 guidance halves, ");
        }
        return new SpeedMeasurement(p, p.guidanceEmbed() ? 1 : 2, file.latentTokens(), file.textLength(), ", ");
    }

    /**
     * One transformer forward on the work for {@code pruned} and {@code base}, timed interleaved round by round
     * ({@link ForwardTimer}) so that the machine's drift lands on both alike.
     */
    ForwardTimer.Timing latency(FluxModel pruned, FluxModel base, int rounds, NDManager manager) {
        try (NDManager m = manager.newSubManager()) {
            FluxInputs in = FluxInputs.random(params, m, rows, imgTokens, txtTokens, 1);
            return ForwardTimer.time(List.of(pruned, base), in, 3, rounds);
        }
    }

    /** Forward FLOPs on the work with the given blocks replaced: linears counted as such, deleted blocks as nothing. */
    long flops(Map<String, Replacement.Mode> replaced) {
        return FlopCount.forward(params, rows, imgTokens, txtTokens,
                (id, original, p, b, li, lt) -> !replaced.containsKey(id) ? original
                        : replaced.get(id) == Replacement.Mode.DELETE ? 0 : FlopCount.replacedBlock(p, b, li + lt));
    }

    /** The report's {@code speed} object. */
    JsonObject json(ForwardTimer.Timing timing, long baseFlops, long prunedFlops) {
        double[] ratio = timing.ratioQuartiles(0, 1);
        JsonObject speed = new JsonObject();
        speed.addProperty("work", "batch " + rows + work + imgTokens + " img + " + txtTokens + " txt tokens, fp32, "
                + "in-process; the exported model (adapters merged) against the base, both loaded from their directories");
        speed.addProperty("base_flops", baseFlops);
        speed.addProperty("pruned_flops", prunedFlops);
        speed.addProperty("base_ms", timing.medianMs(1));
        speed.addProperty("pruned_ms", timing.medianMs(0));
        speed.addProperty("flop_ratio", (double) prunedFlops / baseFlops);
        // the median of the per-round ratios: each round times both models back to back, so drift cancels
        speed.addProperty("latency_ratio", ratio[1]);
        speed.addProperty("latency_ratio_q1", ratio[0]);
        speed.addProperty("latency_ratio_q3", ratio[2]);
        speed.addProperty("latency_rounds", timing.rounds());
        return speed;
    }
}
