package fastflux.cli;

import com.google.gson.JsonObject;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import fastflux.actors.Daemon;
import fastflux.actors.DaemonClient;
import fastflux.actors.JobSpec;
import fastflux.actors.JobState;
import fastflux.actors.NodeSupervisor;
import fastflux.actors.Protocol;
import fastflux.http.JobJson;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code fastflux daemon} and its clients: submit, status, pause, resume, cancel, watch. */
final class DaemonCommands {
    private DaemonCommands() {}

    /** How a client finds its daemon: every daemon command takes these. */
    static final class Connect {
        @Option(names = "--config", paramLabel = "FILE",
                description = "the daemon's configuration (HOCON: host, port); default: reference.conf (127.0.0.1:25520)")
        Path file;

        @Option(names = "--port", paramLabel = "N", description = "the daemon's port, overriding the configuration")
        Integer port;

        @Option(names = "--node", paramLabel = "HOST:PORT", description = "the daemon's host and port, overriding both (one daemon of a fleet)")
        String node;

        Config config() {
            Map<String, Object> over = new HashMap<>();
            if (node != null) { // host and port, overriding --port too
                int colon = node.lastIndexOf(':');
                Integer p = colon > 0 ? portNumber(node.substring(colon + 1)) : null;
                if (p == null) throw new UsageException("--node must be HOST:PORT, got '" + node + "'");
                over.put("fastflux.daemon.host", node.substring(0, colon));
                over.put("fastflux.daemon.port", p);
            } else if (port != null) {
                over.put("fastflux.daemon.port", port);
            }
            return Daemon.config(file, ConfigFactory.parseMap(over));
        }
    }

    /** The number, or null when {@code s} is not one. */
    private static Integer portNumber(String s) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    static DaemonClient client(Config c) {
        return new DaemonClient(c, Duration.ofSeconds(15));
    }

    static int print(Protocol.Reply r) {
        if (r.ok()) System.out.println(r.message());
        else System.err.println("fastflux: refused: " + r.message());
        return r.ok() ? 0 : 1;
    }

    @Command(name = "daemon", mixinStandardHelpOptions = true,
            description = {"run the pruning daemon (job queue, crash-safe resume, remote control)",
                "Runs jobs sent by `fastflux submit`, one at a time, until SIGTERM (which lets the running phase finish and "
                        + "checkpoint). Jobs and their progress survive kill -9: a restarted daemon resumes them. "
                        + "It also serves the HTTP API, dashboard and metrics (fastflux.http, default http://127.0.0.1:8080/, docs/http-api.md)."})
    static final class DaemonCmd implements Callable<Integer> {
        @Mixin
        Connect connect;

        @Override
        public Integer call() {
            Config c = connect.config();
            fastflux.http.HttpServer.check(c); // a missing TLS or token setting, a taken port: refused before anything starts
            Daemon.runForever(c, system -> fastflux.http.HttpServer.start(system, c));
            return 0;
        }
    }

    @Command(name = "submit", mixinStandardHelpOptions = true,
            description = {"queue a pruning job (a job file, see config/example-job.conf) on the daemon, or its fleet's least loaded one",
                "The job file's keys are `fastflux prune`'s options. Relative paths in it are taken from this directory; "
                        + "for a daemon on another machine give them as that machine sees them (absolute)."})
    static final class SubmitCmd implements Callable<Integer> {
        @Parameters(paramLabel = "JOB.conf", description = "the job file (HOCON)")
        Path file;

        @Mixin
        Connect connect;

        @Override
        public Integer call() {
            Config c = connect.config();
            JobSpec spec = JobSpec.read(file, Path.of("").toAbsolutePath());
            checkBeforeSending(spec, c.getString("fastflux.daemon.host"));
            try (DaemonClient client = client(c)) {
                Protocol.Reply r = client.ask(rep -> new NodeSupervisor.Place(spec, rep));
                if (!r.ok() && fastflux.pruning.plan.JobPlanner.refusal(r.message())) {
                    System.err.println("fastflux submit: " + r.message()); // as `fastflux prune` refuses it
                    return Main.USAGE;
                }
                return print(r);
            }
        }
    }

    /**
     * The daemon's own checks, made here first for an early error: all of them when the daemon runs on this
     * machine (loopback), sees the same files; only the options' values otherwise, since the paths are the
     * daemon's, not this machine's (the daemon then checks them and its refusal names what is wrong).
     */
    static void checkBeforeSending(JobSpec spec, String daemonHost) {
        boolean local;
        try {
            local = java.net.InetAddress.getByName(daemonHost).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            local = false;
        }
        if (local) spec.validate();
        else spec.validateOptions();
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = {"list the daemon's (or its fleet's) jobs, or one job",
                "Without JOB: every job of the daemon, or of each daemon of its fleet."})
    static final class StatusCmd implements Callable<Integer> {
        @Parameters(arity = "0..1", paramLabel = "JOB", description = "a job id (see `fastflux status`)")
        String id;

        @Option(names = "--json", description = "one JSON object instead of lines: {\"nodes\": [{\"node\", \"jobs\": [...]}], "
                + "\"unanswered\": [...]}, or with JOB {\"jobs\": [...]}")
        boolean json;

        @Mixin
        Connect connect;

        @Override
        public Integer call() {
            Config c = connect.config();
            try (DaemonClient client = client(c)) {
                if (id != null) { // a job id names a job of the daemon asked
                    Protocol.StatusReply s = client.ask(r -> new NodeSupervisor.GetStatus(id, r));
                    if (json) {
                        System.out.println(statusJson(s));
                        return s.jobs().length == 0 ? 1 : 0;
                    }
                    if (s.jobs().length == 0) {
                        System.out.println("no job " + id);
                        return 1;
                    }
                    for (Protocol.JobInfo j : s.jobs()) printJob(j, "");
                    return 0;
                }
                Protocol.FleetStatusReply f = client.ask(NodeSupervisor.GetFleetStatus::new);
                if (json) {
                    System.out.println(statusJson(f));
                    return 0;
                }
                boolean fleet = f.nodes().length + f.unanswered().length > 1;
                int jobs = 0;
                for (Protocol.NodeStatus n : f.nodes()) {
                    if (fleet) System.out.printf("%s: %d job(s)%n", n.node(), n.jobs().length);
                    for (Protocol.JobInfo j : n.jobs()) printJob(j, fleet ? "  " : "");
                    jobs += n.jobs().length;
                }
                for (String n : f.unanswered()) System.out.println(n + ": did not answer");
                if (jobs == 0 && !fleet) System.out.println("no jobs");
                return 0;
            }
        }
    }

    /** A fleet's status as one JSON object ({@link JobJson#fleet}). */
    static JsonObject statusJson(Protocol.FleetStatusReply f) {
        return JobJson.fleet(f);
    }

    /** One daemon's answer about one job id ({@link JobJson#status}). */
    static JsonObject statusJson(Protocol.StatusReply s) {
        return JobJson.status(s);
    }

    private static void printJob(Protocol.JobInfo j, String indent) {
        String where = j.phase().isEmpty() ? "" : String.format("  %s %s  blocks %d/%d  %s  ETA %s", j.phase(), j.block(),
                j.done(), j.total(), j.detail(), ProgressBar.duration(j.etaSeconds()));
        System.out.printf("%s%s  %-9s %s -> %s%s%s%n", indent, j.id(), j.state(), j.model(), j.out(),
                j.state() == JobState.RUNNING ? where : "", j.error() == null ? "" : "  error: " + j.error());
    }

    /** pause, resume and cancel: one job id, one reply. */
    @Command(mixinStandardHelpOptions = true)
    static final class ControlCmd implements Callable<Integer> {
        private final String name;

        @Parameters(paramLabel = "JOB", description = "the job id (see `fastflux status`)")
        String id;

        @Mixin
        Connect connect;

        private ControlCmd(String name) {
            this.name = name;
        }

        static CommandLine commandLine(String name, String summary) {
            CommandLine cl = new CommandLine(new ControlCmd(name));
            cl.getCommandSpec().name(name);
            cl.getCommandSpec().usageMessage().description(summary);
            return cl;
        }

        @Override
        public Integer call() {
            Config c = connect.config();
            try (DaemonClient client = client(c)) {
                return print(client.ask(r -> switch (name) {
                    case "pause" -> new NodeSupervisor.Pause(id, r);
                    case "resume" -> new NodeSupervisor.Resume(id, r);
                    default -> new NodeSupervisor.Cancel(id, r);
                }));
            }
        }
    }

    @Command(name = "watch", mixinStandardHelpOptions = true,
            description = {"follow a job's progress live (phase, block, loss, ETA) until it ends",
                "Exits 0 when the job is done, 1 when it failed or was cancelled or the daemon went away."})
    static final class WatchCmd implements Callable<Integer> {
        @Parameters(paramLabel = "JOB", description = "the job id (see `fastflux status`)")
        String id;

        @Option(names = "--json", description = "one JSON object a line instead of the progress bar")
        boolean json;

        @Mixin
        Connect connect;

        @Override
        public Integer call() {
            Config c = connect.config();
            try (DaemonClient client = client(c)) {
                ProgressBar bar = new ProgressBar(id, System.out);
                String[] last = {""};
                Protocol.Progress end = client.watch(id, p -> {
                    if (json) {
                        System.out.println(toJson(p));
                        System.out.flush();
                        return;
                    }
                    String key = p.state() + " " + p.phase() + " " + p.block();
                    if (!key.equals(last[0])) {
                        bar.done();
                        System.out.printf("[%s] %s %s %s%n", p.state(), p.phase(), p.block(), p.detail());
                        last[0] = key;
                    }
                    bar.update(p.blocksDone(), Math.max(1, p.blocksTotal()), String.format("blocks, %s %s %d/%d %s, ETA %s",
                            p.phase(), p.block(), p.done(), p.total(), p.detail(), ProgressBar.duration(p.etaSeconds())));
                });
                if (!json) {
                    bar.done();
                    System.out.println(id + " " + end.state() + (end.state() == JobState.DONE ? "" : ": " + end.detail()));
                }
                return end.state() == JobState.DONE ? 0 : 1;
            } catch (IllegalStateException e) {
                System.err.println("fastflux watch: " + e.getMessage());
                return 1;
            }
        }
    }

    static JsonObject toJson(Protocol.Progress p) {
        return JobJson.progress(p);
    }
}
