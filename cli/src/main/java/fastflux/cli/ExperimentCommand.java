package fastflux.cli;

import fastflux.pruning.Option;
import fastflux.pruning.PruneOptions;
import fastflux.experiments.PaperTables;
import fastflux.shapes.PromptFile;
import fastflux.shapes.ShapesModel;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code fastflux experiment paper-tables}: the paper's ablations at Shapes scale ({@link PaperTables}). */
@Command(name = "experiment", mixinStandardHelpOptions = true, synopsisSubcommandLabel = "paper-tables",
        description = "experiment paper-tables: the paper's Tables 4-6 and Figures 6-7 at Shapes scale (hours; resumable)")
final class ExperimentCommand implements Callable<Integer> {
    /**
     * The ablations' default ratio: on the 12-block Shapes model, 4 blocks; below it the blocks replaced first are so
     * cheap that the ablations' gaps are the evaluation's noise (docs/method.md, "Ratios on 12 blocks").
     */
    static final double ABLATION_RATIO = 0.33;

    /**
     * Table 4's default ratio: 5 of 12 blocks, the paper's ablation count; at 4 the untrained linears keep so much that
     * what sandwich training adds is the judge's noise (docs/results.md, "Table 4 at 42 %").
     */
    static final double TABLE4_RATIO = 0.42;


    /** The method's options every variant shares (each variant sets its own order, mode, training and width). */
    static final List<Option<?>> METHOD = List.of(PruneOptions.IMPORTANCE, PruneOptions.CALIB_PROMPTS, PruneOptions.CALIB_STEPS,
            PruneOptions.ST_STEPS, PruneOptions.LR, PruneOptions.LINEAR_LR, PruneOptions.LORA_RANK, PruneOptions.LORA_ALPHA,
            PruneOptions.SEED);

    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new ExperimentCommand());
        CommandLine tables = new CommandLine(new PaperTablesCommand());
        OptionFlags.add(tables.getCommandSpec(), METHOD);
        cl.addSubcommand(tables);
        return cl;
    }

    @Override
    public Integer call() {
        throw new UsageException("expected the experiment 'paper-tables'");
    }

    @Command(name = "paper-tables", mixinStandardHelpOptions = true, sortOptions = false,
            description = "the paper's Tables 4-6 and Figures 6-7 at Shapes scale (hours; resumable)",
            footer = "%nThe method's options (--importance .. --seed) apply to every variant; each variant sets its own "
                    + "order, mode, sandwich training and width.")
    static final class PaperTablesCommand implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @CommandLine.Option(names = "--out", required = true, paramLabel = "DIR",
                description = "variants/NAME (one pruning run each, with its eval-base*.json and grid.png), importance/ (the "
                        + "shared ranking), grids/, report.md. Started again, finished variants and cached evaluations are "
                        + "kept and an unfinished variant resumes")
        Path out;

        @CommandLine.Option(names = "--only", paramLabel = "PARTS", description = "comma-separated subset of table4,table5,table6,fig6,fig7 "
                + "(default all five)")
        String only;

        @CommandLine.Option(names = "--model", paramLabel = "DIR", description = "the full model (default: the embedded models/shapes-tiny)")
        Path model;

        @CommandLine.Option(names = "--seed-bases", paramLabel = "N", defaultValue = "3",
                description = "evaluation seed bases S, S + 1000, ... (default ${DEFAULT-VALUE}): mean +- sd over them")
        int bases;

        @CommandLine.Option(names = "--first-seed-base", paramLabel = "S", defaultValue = "0",
                description = "the first of them (default ${DEFAULT-VALUE}); another S draws other noise for every image")
        long firstBase;

        @CommandLine.Option(names = "--seeds", paramLabel = "K", defaultValue = "4", description = "images per prompt per seed base (default ${DEFAULT-VALUE})")
        int seeds;

        @CommandLine.Option(names = "--eval-prompts", paramLabel = "FILE",
                description = "evaluation prompts (default: the dev set shipped with the Shapes world)")
        Path promptsFile;

        @CommandLine.Option(names = "--eval-steps", paramLabel = "N", defaultValue = "" + ShapesModel.DEFAULT_STEPS,
                description = "sampler steps of evaluation and grids (default ${DEFAULT-VALUE})")
        int evalSteps;

        @CommandLine.Option(names = "--ratio", paramLabel = "R", defaultValue = "" + ABLATION_RATIO,
                description = "ratio of the ablations, Tables 4-5 and Figures 6-7 (default ${DEFAULT-VALUE}: 4 of 12 blocks; the "
                        + "blocks replaced first are so cheap that at 0.25 deletion with the same training scores within the "
                        + "evaluation's noise of the full method; the paper's 0.1 is 5 of FLUX.1's 57 blocks); Table 6 always "
                        + "runs 5-30%%")
        double ratio;

        @CommandLine.Option(names = "--table4-ratio", paramLabel = "R", defaultValue = "" + TABLE4_RATIO,
                description = "Table 4's ratio (default ${DEFAULT-VALUE}: 5 of 12 blocks; at 4 what sandwich training adds is "
                        + "the size of the judge's noise). Another ratio than --ratio prunes Table 4's pair apart, as "
                        + "variants/t4-full and variants/t4-no-st")
        double table4Ratio;

        @CommandLine.Option(names = "--draws", paramLabel = "N", defaultValue = "1",
                description = "prune each variant of Tables 4-5 and Figure 6 N times, with seeds S .. S+N-1 (default "
                        + "${DEFAULT-VALUE}), and judge the orderings over draws x seed bases: one run's training draw moves the "
                        + "Shapes model's scores as much as the method's parts do")
        int draws;

        @Override
        public Integer call() throws Exception {
            Path model = this.model != null ? this.model : ShapesModel.defaultDir();
            Set<PaperTables.Part> parts;
            try {
                parts = only != null ? PaperTables.Part.parse(only) : EnumSet.allOf(PaperTables.Part.class);
            } catch (IllegalArgumentException e) {
                throw new UsageException("--only: " + e.getMessage());
            }
            PaperTables.Options o;
            try {
                PruneOptions method = PruneOptions.defaults(ratio);
                for (Map.Entry<Option<?>, Object> e : OptionFlags.given(spec, METHOD).entrySet()) method = with(method, e.getKey(), e.getValue());
                if (!(table4Ratio > 0 && table4Ratio < 1)) {
                    throw new IllegalArgumentException("--table4-ratio must be a fraction between 0 and 1, got " + table4Ratio);
                }
                // checked here as well as in PaperTables.Options: a bad flag is a usage error before the prompt file is read
                if (draws < 1) throw new IllegalArgumentException("--draws must be at least 1, got " + draws);
                if (firstBase < 0) throw new IllegalArgumentException("--first-seed-base must be 0 or more, got " + firstBase);
                PaperTables.Options.Builder b = PaperTables.Options.defaults(model, method).toBuilder().parts(parts)
                        .seeds(seeds).seedBases(bases).evalSteps(evalSteps).gridSeeds(4).draws(draws).firstSeedBase(firstBase)
                        .table4Ratio(table4Ratio);
                if (promptsFile != null) b.evalPrompts(PromptFile.read(promptsFile), promptsFile.getFileName().toString());
                o = b.build();
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            if (!java.nio.file.Files.isRegularFile(model.resolve("config.json"))) {
                throw new IllegalArgumentException("model directory " + model + " has no config.json");
            }
            fastflux.model.io.OutputPaths.requireWritableDir(out, "--out");
            PaperTables.Result r = new PaperTables(out, o, System.out).run();
            System.out.printf("pruned or resumed %d variant(s), ran %d evaluation(s); report in %s%n", r.pruned().size(),
                    r.evaluated().size(), r.report());
            return 0;
        }
    }

    private static <T> PruneOptions with(PruneOptions o, Option<T> option, Object value) {
        return o.with(option, option.cast(value));
    }
}
