package fastflux.cli;

import fastflux.pruning.JobOptions;
import fastflux.pruning.Option;
import fastflux.pruning.OptionValues;
import fastflux.pruning.plan.DeviceMemory;
import fastflux.pruning.plan.ForwardProbe;
import fastflux.pruning.plan.JobPlan;
import fastflux.pruning.plan.PlanRefusedException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code fastflux plan}: what a {@code prune} job of the same options needs, before any work: each device's memory in
 * each phase, the disk it writes and its time, from the model's config and its weights' header. Exit 2 when the job
 * cannot fit, naming the phase and the device ({@code prune} runs the same plan first and refuses the same way).
 */
@Command(name = "plan", mixinStandardHelpOptions = true, sortOptions = false,
        customSynopsis = "fastflux plan --model DIR [--devices SPEC] [--dtype D] [--memory-limit SIZE] [prune options]",
        description = "print a pruning job's memory per device and phase, its disk and its time; refuse one that cannot fit",
        footer = "%nThe memory model and its accuracy: docs/plan.md.")
final class PlanCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @CommandLine.Option(names = "--image-tokens", paramLabel = "N",
            description = "latent tokens per image (default: the calibration file's grid, the world's, else 4096 for 1024x1024)")
    Integer imageTokens;

    @CommandLine.Option(names = "--text-tokens", paramLabel = "N",
            description = "text tokens per prompt (default: the calibration file's, the world's, else 512)")
    Integer textTokens;

    @CommandLine.Option(names = "--host-memory", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "with GPU devices, the host's memory when planning for another machine (default: this one's)")
    Long hostMemory;

    static final class SizeConverter implements CommandLine.ITypeConverter<Long> {
        @Override
        public Long convert(String text) {
            try {
                return fastflux.pruning.plan.Bytes.parse(text);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    @CommandLine.Option(names = "--measure", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "time one block at the model's width on the first device for the time estimate (default on)")
    boolean measure;

    /** The registry's options a plan reads: a job's, less its output directory. */
    static List<Option<?>> options() {
        List<Option<?>> all = new ArrayList<>(JobOptions.ALL);
        all.remove(JobOptions.OUT);
        return all;
    }

    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new PlanCommand());
        OptionFlags.add(cl.getCommandSpec(), options());
        return cl;
    }

    @Override
    public Integer call() {
        OptionValues values;
        try {
            values = OptionValues.of(options(), OptionFlags.given(spec, options())).requireComplete(Option::flag, "");
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        JobPlan plan = JobPlans.plan(values, imageTokens, textTokens, hostMemory, DeviceMemory.system());
        double rate = Double.NaN;
        String source = "";
        if (measure) {
            var in = plan.inputs();
            // a few hundred token rows: enough for the matmuls to run at speed, short at FLUX.1's width
            int tokens = Math.min(256, in.imageTokens() + in.textTokens());
            int rows = Math.max(1, Math.min(JobPlan.CALIBRATION_BATCH, 512 / tokens));
            rate = ForwardProbe.flopsPerSecond(in.params(), in.devices().list().get(0), in.dtype(), rows, tokens, 3);
            source = String.format(Locale.ROOT, "one single block, width %d, %d x %d tokens, %s on %s",
                    in.params().hiddenSize(), rows, tokens, fastflux.pruning.plan.ComputeDtype.name(in.dtype()), in.devices().name(0));
        }
        System.out.print(plan.format(rate, source));
        System.out.flush();
        try {
            plan.requireFits();
        } catch (PlanRefusedException e) {
            System.err.println("fastflux plan: " + e.getMessage());
            return Main.USAGE;
        }
        return 0;
    }
}
