package fastflux.cli;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The {@code fastflux} command: dispatches to the subcommands. */
public final class Main {
    private Main() {}

    static final List<Command> COMMANDS = List.of(
            new ForwardCommand(),
            new TrainTinyCommand(),
            new GenerateCommand(),
            new EvalCommand(),
            new FidelityCommand(),
            new BenchCommand(),
            new PruneCommand(),
            new ExperimentCommand(),
            new DaemonCommands.DaemonCmd(),
            new DaemonCommands.SubmitCmd(),
            new DaemonCommands.StatusCmd(),
            new DaemonCommands.ControlCmd("pause", "pause a daemon job after its current phase (block)"),
            new DaemonCommands.ControlCmd("resume", "resume a paused daemon job from its last checkpoint"),
            new DaemonCommands.ControlCmd("cancel", "cancel a daemon job (a running one after its current phase)"),
            new DaemonCommands.WatchCmd());

    public static void main(String[] argv) {
        System.setProperty("ai.djl.offline", "true");
        System.exit(run(argv));
    }

    static int run(String[] argv) {
        Map<String, Command> byName = new LinkedHashMap<>();
        for (Command c : COMMANDS) byName.put(c.name(), c);
        if (argv.length == 0 || argv[0].equals("--help") || argv[0].equals("-h") || argv[0].equals("help")) {
            System.out.println(help());
            return argv.length == 0 ? 2 : 0;
        }
        Command c = byName.get(argv[0]);
        if (c == null) {
            System.err.println("fastflux: unknown command '" + argv[0] + "'\n\n" + help());
            return 2;
        }
        String[] rest = Arrays.copyOfRange(argv, 1, argv.length);
        if (Arrays.asList(rest).contains("--help") || Arrays.asList(rest).contains("-h")) {
            System.out.println(c.usage());
            return 0;
        }
        try {
            return c.run(new Args(c.name(), rest, c.flags()));
        } catch (Args.UsageException e) {
            System.err.println("fastflux " + e.getMessage() + "\n\n" + c.usage());
            return 2;
        } catch (IllegalArgumentException | IllegalStateException | java.io.UncheckedIOException
                 | fastflux.model.io.SafetensorsException e) {
            System.err.println("fastflux " + c.name() + ": error: " + e.getMessage());
            return 1;
        } catch (java.nio.file.FileSystemException e) {
            System.err.println("fastflux " + c.name() + ": error: " + fastflux.model.io.IoErrors.describe(e));
            return 1;
        } catch (Exception e) {
            System.err.println("fastflux " + c.name() + ": failed: " + e);
            e.printStackTrace();
            return 1;
        }
    }

    static String help() {
        StringBuilder sb = new StringBuilder("usage: fastflux COMMAND [OPTIONS]   (fastflux COMMAND --help for details)\n\ncommands:\n");
        for (Command c : COMMANDS) sb.append(String.format("  %-16s %s%n", c.name(), c.summary()));
        return sb.toString();
    }
}
