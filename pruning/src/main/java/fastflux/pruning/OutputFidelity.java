package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import fastflux.model.BlockTap;
import fastflux.model.FluxInputs;
import fastflux.model.FluxModel;
import fastflux.sampling.EulerSampler;
import java.util.Arrays;

/**
 * How far a pruned transformer's outputs lie from its base model's, measured on the transformers alone: no text
 * encoder, VAE or judge needed, so it is the quality figure a FLUX.1 checkpoint's report can give, and on a Shapes
 * model a noise-free companion to the judge.
 *
 * <p>For each (prompt, noise seed) item of a calibration source, the base model's guided sampler trajectory is run
 * from the item's noise, and at every step both models' guided velocities are taken at the base's latent:
 * <b>step error</b> {@code Σ‖v_pruned − v_base‖² / Σ‖v_base‖²} per step and over all steps (the error pruning adds
 * to one step, where nothing has drifted yet). Then the pruned model's own trajectory is run from the same noise:
 * <b>latent error</b> {@code Σ‖x_pruned − x_base‖² / Σ‖x_base‖²} of the final latents (the error after the sampler
 * has carried it through every step). Both are relative mean squares: 0 is the base model, 1 an output as far from
 * it as it is from zero.
 */
public final class OutputFidelity {
    private OutputFidelity() {}

    /** The seed of the grammar prompts a Shapes model is measured on when nothing else is asked for. */
    public static final long DEFAULT_PROMPT_SEED = 424_242L;

    /**
     * @param source what {@code calibration} samples (its label)
     * @param stepError Σ over all steps and items of ‖Δv‖², over Σ‖v_base‖²
     * @param perStep the same per sampler step, from the noisiest
     * @param latentError the final latents' Σ‖Δx‖² / Σ‖x_base‖²
     */
    public record Result(String source, int items, int steps, double stepError, double[] perStep, double latentError) {
        public JsonObject toJson() {
            JsonObject o = new JsonObject();
            o.addProperty("source", source);
            o.addProperty("items", items);
            o.addProperty("steps", steps);
            o.addProperty("step_rel_mse", stepError);
            JsonArray a = new JsonArray();
            for (double d : perStep) a.add(d);
            o.add("step_rel_mse_per_step", a);
            o.addProperty("latent_rel_mse", latentError);
            return o;
        }
    }

    /**
     * Measures {@code pruned} against {@code base} over every item of {@code calibration} (its source, noise seeds,
     * steps and guidance), batch by batch: memory is bounded by one batch.
     *
     * @param calibration a calibration stream over {@code base} (the trajectories are the base model's)
     */
    public static Result measure(FluxModel pruned, Calibration calibration) {
        FluxModel base = calibration.model();
        if (!pruned.config().equals(base.config())) {
            throw new IllegalArgumentException("the pruned model's config differs from the base model's: " + pruned.config()
                    + " vs " + base.config());
        }
        CalibrationSource source = calibration.source();
        float[] schedule = calibration.schedule();
        int steps = schedule.length - 1;
        double[] err = new double[steps];
        double[] ref = new double[steps];
        double latentErr = 0;
        double latentRef = 0;
        int n = source.size();
        try (NDManager root = NDManager.newBaseManager()) {
            for (int bi = 0; bi < calibration.batches(0, n); bi++) {
                Calibration.Items it = calibration.items(bi, 0, n);
                try (NDManager bm = root.newSubManager()) {
                    CalibrationSource.Conditioning c = calibration.conditioning(it.prompts(), bm);
                    NDArray noise = EulerSampler.noise(it.noiseSeeds(), source.latentTokens(), source.latentChannels(), bm);
                    int[] k = {0};
                    NDArray xBase = EulerSampler.sample(noise, schedule, (xt, t, scope) -> {
                        FluxInputs in = calibration.inputs(c, xt, t, scope);
                        NDArray vBase = calibration.guide(base.forward(in, BlockTap.NONE));
                        NDArray vPruned = calibration.guide(pruned.forward(in, BlockTap.NONE));
                        err[k[0]] += sumOfSquares(vPruned.sub(vBase));
                        ref[k[0]] += sumOfSquares(vBase);
                        k[0]++;
                        return vBase;
                    }, null);
                    NDArray xPruned = EulerSampler.sample(noise, schedule, (xt, t, scope) ->
                            calibration.guide(pruned.forward(calibration.inputs(c, xt, t, scope), BlockTap.NONE)), null);
                    latentErr += sumOfSquares(xPruned.sub(xBase));
                    latentRef += sumOfSquares(xBase);
                }
            }
        }
        double[] perStep = new double[steps];
        double errSum = 0;
        double refSum = 0;
        for (int i = 0; i < steps; i++) {
            perStep[i] = err[i] / ref[i];
            errSum += err[i];
            refSum += ref[i];
        }
        return new Result(source.describe() + ", noise seeds " + Arrays.toString(calibration.options().seeds())
                + ", guidance " + calibration.options().guidance(), calibration.items(), steps, errSum / refSum, perStep,
                latentErr / latentRef);
    }

    private static double sumOfSquares(NDArray a) {
        try (NDArray sq = a.toType(DataType.FLOAT64, false).square(); NDArray s = sq.sum()) {
            return s.getDouble();
        }
    }
}
