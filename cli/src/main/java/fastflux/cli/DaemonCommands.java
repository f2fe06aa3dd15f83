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
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/** {@code fastflux daemon} and its clients: submit, status, pause, resume, cancel, watch. */
final class DaemonCommands {
    private DaemonCommands() {}

    static final String CONNECT = "  --config FILE  the daemon's configuration (host, port); default: reference.conf (127.0.0.1:25520)\n"
            + "  --port N       the daemon's port, overriding the configuration\n"
            + "  --node H:P     the daemon's host and port, overriding both (one daemon of a fleet)\n";

    static Config config(Args a) {
        Path file = a.path("config", null);
        String port = a.string("port", null);
        String node = a.string("node", null);
        Map<String, Object> over = new HashMap<>();
        if (node != null) { // host and port, overriding --port too
            int colon = node.lastIndexOf(':');
            Integer p = colon > 0 ? portNumber(node.substring(colon + 1)) : null;
            if (p == null) throw new Args.UsageException("--node must be HOST:PORT, got '" + node + "'");
            over.put("fastflux.daemon.host", node.substring(0, colon));
            over.put("fastflux.daemon.port", p);
        } else if (port != null) {
            Integer p = portNumber(port);
            if (p == null) throw new Args.UsageException("--port must be a number, got '" + port + "'");
            over.put("fastflux.daemon.port", p);
        }
        return Daemon.config(file, ConfigFactory.parseMap(over));
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

    static String jobArg(Args a, String cmd) {
        if (a.positional().size() != 1) throw new Args.UsageException(cmd + ": expected one JOB id (see `fastflux status`)");
        return a.positional().get(0);
    }

    static int print(Protocol.Reply r) {
        if (r.ok()) System.out.println(r.message());
        else System.err.println("fastflux: refused: " + r.message());
        return r.ok() ? 0 : 1;
    }

    static final class DaemonCmd implements Command {
        public String name() { return "daemon"; }
        public String summary() { return "run the pruning daemon (job queue, crash-safe resume, remote control)"; }
        public String usage() {
            return "usage: fastflux daemon [--config FILE] [--port N | --node H:P]\n"
                    + "  Runs jobs sent by `fastflux submit`, one at a time, until SIGTERM (which lets the running phase\n"
                    + "  finish and checkpoint). Jobs and their progress survive kill -9: a restarted daemon resumes them.\n" + CONNECT;
        }
        public int run(Args a) {
            Config c = config(a);
            a.rejectUnknown();
            Daemon.runForever(c);
            return 0;
        }
    }

    static final class SubmitCmd implements Command {
        public String name() { return "submit"; }
        public String summary() { return "queue a pruning job (a job file, see config/example-job.conf) on the daemon, or its fleet's least loaded one"; }
        public String usage() {
            return "usage: fastflux submit JOB.conf [--config FILE] [--port N | --node H:P]\n"
                    + "  Relative paths in JOB.conf are taken from this directory; for a daemon on another machine give them\n"
                    + "  as that machine sees them (absolute).\n" + CONNECT;
        }
        public int run(Args a) {
            if (a.positional().size() != 1) throw new Args.UsageException("submit: expected one job file");
            Config c = config(a);
            a.rejectUnknown();
            JobSpec spec = JobSpec.read(Path.of(a.positional().get(0)), Path.of("").toAbsolutePath());
            checkBeforeSending(spec, c.getString("fastflux.daemon.host"));
            try (DaemonClient client = client(c)) {
                return print(client.ask(r -> new NodeSupervisor.Place(spec, r)));
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

    static final class StatusCmd implements Command {
        public String name() { return "status"; }
        public String summary() { return "list the daemon's (or its fleet's) jobs, or one job"; }
        public String usage() {
            return "usage: fastflux status [JOB] [--config FILE] [--port N | --node H:P]\n"
                    + "  Without JOB: every job of the daemon, or of each daemon of its fleet.\n" + CONNECT;
        }
        public int run(Args a) {
            if (a.positional().size() > 1) throw new Args.UsageException("status: expected at most one JOB id, got " + a.positional());
            String id = a.positional().isEmpty() ? "" : a.positional().get(0);
            Config c = config(a);
            a.rejectUnknown();
            try (DaemonClient client = client(c)) {
                if (!id.isEmpty()) { // a job id names a job of the daemon asked
                    Protocol.StatusReply s = client.ask(r -> new NodeSupervisor.GetStatus(id, r));
                    if (s.jobs().length == 0) {
                        System.out.println("no job " + id);
                        return 1;
                    }
                    for (Protocol.JobInfo j : s.jobs()) printJob(j, "");
                    return 0;
                }
                Protocol.FleetStatusReply f = client.ask(NodeSupervisor.GetFleetStatus::new);
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

    private static void printJob(Protocol.JobInfo j, String indent) {
        String where = j.phase().isEmpty() ? "" : String.format("  %s %s  blocks %d/%d  %s  ETA %s", j.phase(), j.block(),
                j.done(), j.total(), j.detail(), ProgressBar.duration(j.etaSeconds()));
        System.out.printf("%s%s  %-9s %s -> %s%s%s%n", indent, j.id(), j.state(), j.model(), j.out(),
                j.state() == JobState.RUNNING ? where : "", j.error() == null ? "" : "  error: " + j.error());
    }

    /** pause, resume and cancel: one job id, one reply. */
    static final class ControlCmd implements Command {
        private final String name;
        private final String summary;

        ControlCmd(String name, String summary) {
            this.name = name;
            this.summary = summary;
        }

        public String name() { return name; }
        public String summary() { return summary; }
        public String usage() { return "usage: fastflux " + name + " JOB [--config FILE] [--port N | --node H:P]\n" + CONNECT; }
        public int run(Args a) {
            String id = jobArg(a, name);
            Config c = config(a);
            a.rejectUnknown();
            try (DaemonClient client = client(c)) {
                return print(client.ask(r -> switch (name) {
                    case "pause" -> new NodeSupervisor.Pause(id, r);
                    case "resume" -> new NodeSupervisor.Resume(id, r);
                    default -> new NodeSupervisor.Cancel(id, r);
                }));
            }
        }
    }

    static final class WatchCmd implements Command {
        public String name() { return "watch"; }
        public String summary() { return "follow a job's progress live (phase, block, loss, ETA) until it ends"; }
        public Set<String> flags() { return Set.of("json"); }
        public String usage() {
            return "usage: fastflux watch JOB [--json] [--config FILE] [--port N | --node H:P]\n"
                    + "  --json         one JSON object a line instead of the progress bar\n" + CONNECT
                    + "  Exits 0 when the job is done, 1 when it failed or was cancelled or the daemon went away.";
        }
        public int run(Args a) {
            String id = jobArg(a, "watch");
            boolean json = a.flag("json");
            Config c = config(a);
            a.rejectUnknown();
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
        JsonObject o = new JsonObject();
        o.addProperty("job", p.jobId());
        o.addProperty("state", p.state().word());
        o.addProperty("phase", p.phase());
        o.addProperty("block", p.block());
        o.addProperty("done", p.done());
        o.addProperty("total", p.total());
        o.addProperty("detail", p.detail());
        o.addProperty("blocks_done", p.blocksDone());
        o.addProperty("blocks_total", p.blocksTotal());
        o.addProperty("elapsed_s", Math.round(p.elapsedSeconds() * 10) / 10.0);
        if (Double.isFinite(p.etaSeconds())) o.addProperty("eta_s", Math.round(p.etaSeconds() * 10) / 10.0);
        o.addProperty("seq", p.seq());
        return o;
    }
}
