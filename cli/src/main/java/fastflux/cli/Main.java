package fastflux.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.net.URL;
import java.util.Enumeration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.jar.Attributes;
import java.util.jar.Manifest;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.MissingParameterException;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The {@code fastflux} command. Its commands are picocli commands: usage, help, completion and the suggestion for a
 * mistyped option come from their option definitions. Exit status 0 on success, 1 when the work fails (a bad input
 * file, a job error), 2 for a mistake on the command line (before any work).
 */
@Command(name = "fastflux", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        synopsisSubcommandLabel = "COMMAND", commandListHeading = "%nCommands:%n",
        description = "FastFLUX: prune FLUX-family diffusion transformers (block importance, least-squares linears in "
                + "place of residual branches, sandwich training) and measure the result.",
        footer = "%n`fastflux help COMMAND` or `fastflux COMMAND --help` for a command's options; "
                + "`source <(fastflux completion)` completes them in bash and zsh.")
public final class Main implements Callable<Integer> {
    /** Exit status of a mistake on the command line. */
    static final int USAGE = 2;

    @Spec
    CommandSpec spec;

    private Main() {}

    public static void main(String[] argv) {
        System.setProperty("ai.djl.offline", "true");
        System.exit(run(argv));
    }

    /** No command: the list of commands, as a usage error. */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return USAGE;
    }

    /** The whole command tree, its output on this process's current {@code System.out} and {@code System.err}. */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.addSubcommand(new ForwardCommand());
        cl.addSubcommand(new TrainTinyCommand());
        cl.addSubcommand(new GenerateCommand());
        cl.addSubcommand(new EvalCommand());
        cl.addSubcommand(new FidelityCommand());
        cl.addSubcommand(BenchCommand.commandLine());
        cl.addSubcommand(PruneCommand.commandLine());
        cl.addSubcommand(ExperimentCommand.commandLine());
        cl.addSubcommand(new DaemonCommands.DaemonCmd());
        cl.addSubcommand(new DaemonCommands.SubmitCmd());
        cl.addSubcommand(new DaemonCommands.StatusCmd());
        cl.addSubcommand(DaemonCommands.ControlCmd.commandLine("pause", "pause a daemon job after its current phase (block)"));
        cl.addSubcommand(DaemonCommands.ControlCmd.commandLine("resume", "resume a paused daemon job from its last checkpoint"));
        cl.addSubcommand(DaemonCommands.ControlCmd.commandLine("cancel", "cancel a daemon job (a running one after its current phase)"));
        cl.addSubcommand(new DaemonCommands.WatchCmd());
        cl.addSubcommand(new HelpCommand());
        cl.addSubcommand(new CompletionCommand());
        cl.addSubcommand(new CertsCommand());
        cl.addSubcommand(new TokenCommand());
        cl.setExpandAtFiles(false); // an argument is what it says: "@x" is not the contents of file x
        cl.setUsageHelpWidth(110);
        cl.setUsageHelpLongOptionsMaxWidth(32);
        cl.setParameterExceptionHandler(Main::usageError);
        cl.setExecutionExceptionHandler(Main::failure);
        cl.setOut(new PrintWriter(System.out, true));
        cl.setErr(new PrintWriter(System.err, true));
        return cl;
    }

    static int run(String[] argv) {
        CommandLine cl = commandLine();
        try {
            return cl.execute(argv);
        } finally {
            cl.getOut().flush();
            cl.getErr().flush();
        }
    }

    /** A mistake on the command line: what is wrong (and, for a near miss, what was meant), then the usage. */
    private static int usageError(ParameterException e, String[] argv) {
        CommandLine cl = e.getCommandLine();
        PrintWriter err = cl.getErr();
        String unknown = e instanceof MissingParameterException ? unknownOption(cl.getCommandSpec(), argv) : null;
        if (unknown != null) e = new UnmatchedArgumentException(cl, List.of(unknown)); // the mistyped option, not what it left out
        if (cl.getCommandSpec().parent() == null && e instanceof UnmatchedArgumentException u && !u.getUnmatched().isEmpty()
                && !u.getUnmatched().get(0).startsWith("-")) {
            err.println("fastflux: unknown command '" + u.getUnmatched().get(0) + "'");
        } else {
            err.println(cl.getCommandSpec().qualifiedName() + ": " + e.getMessage());
        }
        UnmatchedArgumentException.printSuggestions(e, err);
        err.println();
        cl.usage(err);
        return USAGE;
    }

    /** The first argument that looks like an option {@code spec} does not have, or null. */
    private static String unknownOption(CommandSpec spec, String[] argv) {
        for (String a : argv) {
            if (!a.startsWith("-") || a.length() < 2 || a.matches("-[0-9.].*")) continue; // a negative number is a value
            String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            if (spec.optionsMap().containsKey(name) || spec.negatedOptionsMap().containsKey(name)) continue;
            if (spec.root().optionsMap().containsKey(name)) continue;
            return a;
        }
        return null;
    }

    /** A command's failure: one line naming what went wrong, status 1 (or 2 for a usage mistake found while running). */
    private static int failure(Exception e, CommandLine cl, ParseResult parsed) {
        PrintWriter err = cl.getErr();
        String name = cl.getCommandSpec().qualifiedName();
        if (e instanceof UsageException) {
            err.println(name + ": " + e.getMessage());
            err.println();
            cl.usage(err);
            return USAGE;
        }
        if (e instanceof IllegalArgumentException || e instanceof IllegalStateException || e instanceof java.io.UncheckedIOException
                || e instanceof fastflux.model.io.SafetensorsException) {
            err.println(name + ": error: " + e.getMessage());
        } else if (e instanceof java.nio.file.FileSystemException f) {
            err.println(name + ": error: " + fastflux.model.io.IoErrors.describe(f));
        } else {
            err.println(name + ": failed: " + e);
            e.printStackTrace(err);
        }
        return 1;
    }

    /** {@code fastflux --version}: the jar's version and the commit it was built from (its manifest). */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() {
            Attributes a = manifest();
            String version = a == null ? null : a.getValue(Attributes.Name.IMPLEMENTATION_VERSION);
            String commit = a == null ? null : a.getValue("Git-Commit");
            return new String[] {line(version, commit)};
        }

        static String line(String version, String commit) {
            return "fastflux " + (version == null ? "unknown" : version) + " (commit "
                    + (commit == null || commit.isBlank() || commit.startsWith("${") ? "unknown" : commit) + ")";
        }

        /** The main attributes of the manifest that names this class as the jar's main class; null when run from classes. */
        private static Attributes manifest() {
            try {
                Enumeration<URL> all = Main.class.getClassLoader().getResources("META-INF/MANIFEST.MF");
                while (all.hasMoreElements()) {
                    try (InputStream in = all.nextElement().openStream()) {
                        Attributes a = new Manifest(in).getMainAttributes();
                        if (Main.class.getName().equals(a.getValue(Attributes.Name.MAIN_CLASS))) return a;
                    }
                }
            } catch (IOException e) {
                return null;
            }
            return null;
        }
    }
}
