package fastflux.cli;

import fastflux.pruning.PruneJob;
import fastflux.pruning.PruneOptions;

/**
 * The method's options that {@code prune} and {@code experiment paper-tables} share: calibration, sandwich training
 * and the importance metric. One parse and one help text, so the two commands cannot drift apart.
 */
record MethodFlags(String importance, int calibPrompts, int calibSteps, int stSteps, double lr, double linearLr, int loraRank,
        float loraAlpha, int seed) {

    /** Reads the shared options, each defaulting to the method's default in {@code d}. */
    static MethodFlags parse(Args a, PruneOptions d) {
        return new MethodFlags(a.string("importance", d.importance()), a.integer("calib-prompts", d.calibPrompts()),
                a.integer("steps", d.calibSteps()), a.integer("st-steps", d.stSteps()), a.number("lr", d.lr()),
                a.number("linear-lr", d.linearLr()),
                a.integer("lora-rank", d.loraRank()), (float) a.number("lora-alpha", d.loraAlpha()),
                a.integer("seed", (int) d.seed()));
    }

    /** The usage line's part for these options. */
    static String synopsis() {
        return "[--importance fd-align|output-mse] [--calib-prompts N] [--steps N] [--st-steps N] [--lr X]\n"
                + "         [--linear-lr X] [--lora-rank R] [--lora-alpha A] [--seed S]";
    }

    /** One help line per option, with the defaults of {@code d}. */
    static String help(PruneOptions d) {
        return "  --importance M     block importance metric (default " + d.importance() + "; output-mse is the cheap one)\n"
                + "  --calib-prompts N  calibration prompts from the grammar, each with 2 noise seeds (default " + d.calibPrompts() + ")\n"
                + "  --steps N          sampler steps of the calibration trajectories (default " + d.calibSteps() + ")\n"
                + "  --st-steps N       sandwich-training steps per block (default " + d.stSteps() + ")\n"
                + "  --lr X             sandwich-training learning rate of the LoRA adapters, AdamW (default " + PruneOptions.plain(d.lr()) + ")\n"
                + "  --linear-lr X      sandwich-training learning rate of the replaced blocks' linears, which start at\n"
                + "                     their least-squares optimum (default " + PruneOptions.plain(d.linearLr()) + "; 0 keeps them as fitted)\n"
                + "  --lora-rank R      rank of the neighbours' LoRA adapters (default " + d.loraRank() + ", 1.6 % of the Shapes width;\n"
                + "                     for FLUX.1's 3072 something like 32)\n"
                + "  --lora-alpha A     LoRA alpha; the adapters' scale is alpha / rank (default " + PruneOptions.plain(d.loraAlpha()) + ")\n"
                + "  --seed S           seed of the calibration prompts, adapter initialisation and training batches (default " + d.seed() + ")";
    }
}
