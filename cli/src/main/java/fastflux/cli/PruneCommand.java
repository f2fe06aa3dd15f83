package fastflux.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.actors.InProcessNode;
import fastflux.actors.JobSpec;
import fastflux.actors.Protocol;
import fastflux.pruning.JobOptions;
import fastflux.pruning.Option;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code fastflux prune}: the FastFLUX method end to end. The job runs on the daemon's actors, in this process
 * ({@link InProcessNode}: node, coordinator, device shard; no remoting), and the command exits when it ends. Its options
 * are the job's registry ({@link JobOptions#ALL}), the keys of a job file under the same names.
 */
@Command(name = "prune", mixinStandardHelpOptions = true, sortOptions = false,
        customSynopsis = "fastflux prune --ratio R --out DIR [OPTIONS]",
        description = "prune a model with FastFLUX (importance, least-squares linears, sandwich training) and export it",
        footer = "%nA job file for `fastflux submit` takes the same options as keys (config/example-job.conf).")
final class PruneCommand implements Callable<Integer> {
    static final int QUALITY_PROMPTS = JobSpec.QUALITY_PROMPTS;
    static final long QUALITY_PROMPT_SEED = JobSpec.QUALITY_PROMPT_SEED;

    @Spec
    CommandSpec spec;

    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new PruneCommand());
        OptionFlags.add(cl.getCommandSpec(), JobOptions.ALL);
        return cl;
    }

    /** The job of a parsed command line: the options given, every other at its default, paths absolute. */
    static JobSpec job(CommandSpec spec) {
        try {
            return JobSpec.fromGiven(OptionFlags.given(spec, JobOptions.ALL), Path.of("").toAbsolutePath(), Option::flag, "");
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    /** The job {@code argv} describes, as {@code fastflux prune ARGV} would run it (parsed, not run). */
    static JobSpec job(String... argv) {
        CommandLine cl = commandLine();
        cl.parseArgs(argv);
        return job(cl.getCommandSpec());
    }

    @Override
    public Integer call() throws Exception {
        JobSpec job = job(spec);
        Path out = Path.of(job.out());
        if (job.model().equals(job.out())) throw new UsageException("--out must differ from --model");
        job.validate(); // what the node checks again at submit: missing model, files, prompt file
        try { // the plan of `fastflux plan`, before any work: a job that cannot fit is refused naming phase and device
            JobSpec fitted = fastflux.actors.JobPlanning.fitted(job);
            if (fitted != job) {
                int mb = fitted.get(fastflux.pruning.PruneOptions.ST_MICRO_BATCH);
                System.err.println("fastflux prune: the sandwich phase fits its devices in micro-batches of " + mb
                        + " pairs: --st-micro-batch " + mb);
            }
            job = fitted;
        } catch (fastflux.pruning.plan.PlanRefusedException e) {
            System.err.println("fastflux prune: " + e.getMessage());
            return Main.USAGE;
        }
        ProgressLine progress = new ProgressLine();
        InProcessNode.Outcome end = InProcessNode.run(job, InProcessNode.config(), progress);
        progress.done();
        switch (end.state()) {
            case "done" -> {
                JsonObject report = JsonParser.parseString(Files.readString(out.resolve("report.json"))).getAsJsonObject();
                System.out.println(fastflux.pruning.PruneReport.summary(report));
                System.out.println("pruned model, report.md and report.json in " + out);
                return 0;
            }
            case "interrupted" -> {
                System.err.println("fastflux prune: stopped by " + end.detail() + " after the running phase; its checkpoint is in "
                        + out.resolve("state") + ": run the same command again to resume");
                return end.detail().equals("SIGINT") ? 130 : 143;
            }
            default -> throw new IllegalStateException(end.detail());
        }
    }

    /** Prints phase changes and a progress bar per phase, from the node's progress snapshots. */
    static final class ProgressLine implements Consumer<Protocol.Progress> {
        private final ProgressBar bar = new ProgressBar("prune", System.err);
        private String last = "";

        @Override
        public void accept(Protocol.Progress p) {
            if (p.state() != fastflux.actors.JobState.RUNNING || p.phase().isEmpty() || p.phase().equals(Protocol.Progress.STARTING)) return;
            String key = p.phase() + " " + p.block();
            if (!key.equals(last)) {
                bar.done();
                System.err.println("[" + p.phase() + "] " + p.block() + " " + p.detail());
                last = key;
            }
            bar.update(p.done(), Math.max(p.total(), 1), p.phase() + " " + p.block() + " " + p.detail());
        }

        void done() {
            bar.done();
        }
    }
}
