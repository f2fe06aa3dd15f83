package fastflux.pruning;

import com.google.gson.JsonObject;
import fastflux.model.Replacement;
import java.nio.file.Path;

/** Everything a run depends on; part of the saved state, so a resumed run must use the same options. */
public record PruneOptions(double ratio, String importance, Path importanceFrom, Order order, Replacement.Mode mode,
                           boolean sandwichTraining, int sandwichWidth, int calibPrompts, int calibSteps,
                           int stSteps, double lr, double linearLr, int loraRank, float loraAlpha, long bufferBytes, long seed) {
    public enum Order {
        IMPORTANCE, START2END, END2START;

        public static Order parse(String s) {
            return switch (s) {
                case "importance" -> IMPORTANCE;
                case "start2end" -> START2END;
                case "end2start" -> END2START;
                default -> throw new IllegalArgumentException("unknown order '" + s + "' (importance, start2end, end2start)");
            };
        }
    }

    /**
     * The neighbours' LoRA rank (alpha the same, so the adapters' scale is 1). Rank 2 of the Shapes model's width 128
     * is 1.6 %, the share a rank of 32–64 is of FLUX.1's 3072. At rank 8 (6 %) the 20 % model scored 0.027 ± 0.012
     * lower (paired over three seed bases; README: "The paper's tables"); for FLUX.1 pass
     * {@code --lora-rank 32 --lora-alpha 32} or so.
     */
    public static final int DEFAULT_LORA_RANK = 2;

    /**
     * The sandwich trainer's learning rate for the replaced blocks' linears, a tenth of the adapters' (1e-3). Adam's
     * first updates move every weight by about the rate whatever its gradient, and a linear starts at its
     * least-squares optimum with inputs of large norm: at the adapters' rate, the 33 % run's overlap sandwich around
     * {@code double_blocks.2} jumped from loss 0.21 to 11.2 in one step (README: "Sandwich training's learning rates").
     */
    public static final double DEFAULT_LINEAR_LR = 1e-4;

    public PruneOptions {
        if (!(ratio > 0 && ratio < 1)) throw new IllegalArgumentException("ratio must be a fraction in (0, 1), got " + ratio);
        if (!importance.equals(ImportanceScorer.FD_ALIGN) && !importance.equals(ImportanceScorer.OUTPUT_MSE)) {
            throw new IllegalArgumentException("unknown importance metric '" + importance + "' (fd-align, output-mse)");
        }
        if (sandwichWidth != 1 && sandwichWidth != 3 && sandwichWidth != 5) {
            throw new IllegalArgumentException("sandwich width must be 1, 3 or 5, got " + sandwichWidth);
        }
        if (calibPrompts < 1) throw new IllegalArgumentException("calibration prompts must be at least 1, got " + calibPrompts);
        if (calibSteps < 1) throw new IllegalArgumentException("calibration sampler steps must be at least 1, got " + calibSteps);
        if (stSteps < 0) throw new IllegalArgumentException("sandwich-training steps must be 0 or more, got " + stSteps);
        if (loraRank < 1) throw new IllegalArgumentException("LoRA rank must be at least 1, got " + loraRank);
        if (!(loraAlpha > 0)) throw new IllegalArgumentException("LoRA alpha must be positive, got " + loraAlpha);
        if (!(lr > 0)) throw new IllegalArgumentException("learning rate must be positive, got " + lr);
        if (!(linearLr >= 0)) throw new IllegalArgumentException("the linears' learning rate must be 0 or more, got " + linearLr);
    }

    public static PruneOptions defaults(double ratio) {
        return new PruneOptions(ratio, ImportanceScorer.FD_ALIGN, null, Order.IMPORTANCE, Replacement.Mode.LINEAR, true, 3,
                Calibration.Options.DEFAULT_PROMPTS, 10, 150, 1e-3, DEFAULT_LINEAR_LR, DEFAULT_LORA_RANK, DEFAULT_LORA_RANK, 256L << 20, 0);
    }

    /** A rate or scale as people write it in help and reports: {@code 0.0001}, {@code 2}, not {@code 1.0E-4}, {@code 2.0}. */
    public static String plain(double x) {
        return java.math.BigDecimal.valueOf(x).stripTrailingZeros().toPlainString();
    }

    /** {@link #plain(double)} for a float, by its own shortest text: {@code 0.3f} is {@code 0.3}. */
    public static String plain(float x) {
        return new java.math.BigDecimal(Float.toString(x)).stripTrailingZeros().toPlainString();
    }

    /** The same options with another seed (calibration prompts, adapter initialisation, minibatch order). */
    public PruneOptions withSeed(long s) {
        return new PruneOptions(ratio, importance, importanceFrom, order, mode, sandwichTraining, sandwichWidth, calibPrompts,
                calibSteps, stSteps, lr, linearLr, loraRank, loraAlpha, bufferBytes, s);
    }

    public PruneOptions withRatio(double r) {
        return new PruneOptions(r, importance, importanceFrom, order, mode, sandwichTraining, sandwichWidth, calibPrompts,
                calibSteps, stSteps, lr, linearLr, loraRank, loraAlpha, bufferBytes, seed);
    }

    /** The same options ranking blocks from a saved {@code importance.json} ({@code null}: scored by the run). */
    public PruneOptions withImportanceFrom(Path file) {
        return new PruneOptions(ratio, importance, file, order, mode, sandwichTraining, sandwichWidth, calibPrompts,
                calibSteps, stSteps, lr, linearLr, loraRank, loraAlpha, bufferBytes, seed);
    }

    public PruneOptions withOrder(Order o) {
        return new PruneOptions(ratio, importance, importanceFrom, o, mode, sandwichTraining, sandwichWidth, calibPrompts,
                calibSteps, stSteps, lr, linearLr, loraRank, loraAlpha, bufferBytes, seed);
    }

    public PruneOptions withMode(Replacement.Mode m) {
        return new PruneOptions(ratio, importance, importanceFrom, order, m, sandwichTraining, sandwichWidth, calibPrompts,
                calibSteps, stSteps, lr, linearLr, loraRank, loraAlpha, bufferBytes, seed);
    }

    /** With or without sandwich training ({@code --no-st}: the least-squares linears as fitted). */
    public PruneOptions withSandwichTraining(boolean st) {
        return new PruneOptions(ratio, importance, importanceFrom, order, mode, st, sandwichWidth, calibPrompts,
                calibSteps, stSteps, lr, linearLr, loraRank, loraAlpha, bufferBytes, seed);
    }

    public PruneOptions withSandwichWidth(int w) {
        return new PruneOptions(ratio, importance, importanceFrom, order, mode, sandwichTraining, w, calibPrompts,
                calibSteps, stSteps, lr, linearLr, loraRank, loraAlpha, bufferBytes, seed);
    }

    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("ratio", ratio);
        o.addProperty("importance", importance);
        o.addProperty("importance_from", importanceFrom == null ? null : importanceFrom.toString());
        o.addProperty("order", order.name().toLowerCase());
        o.addProperty("mode", mode.jsonName());
        o.addProperty("sandwich_training", sandwichTraining);
        o.addProperty("sandwich_width", sandwichWidth);
        o.addProperty("calib_prompts", calibPrompts);
        o.addProperty("calib_steps", calibSteps);
        o.addProperty("st_steps", stSteps);
        o.addProperty("lr", lr);
        o.addProperty("linear_lr", linearLr);
        o.addProperty("lora_rank", loraRank);
        o.addProperty("lora_alpha", loraAlpha);
        o.addProperty("seed", seed);
        return o;
    }
}
