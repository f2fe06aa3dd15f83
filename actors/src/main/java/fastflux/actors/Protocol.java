package fastflux.actors;

import org.apache.pekko.actor.typed.ActorRef;

/**
 * The replies and events the daemon sends to its clients and to the other daemons of its fleet. Plain values only:
 * no NDArrays (a probe's per-block metrics are a few numbers a block).
 */
public final class Protocol {
    private Protocol() {}

    /** A command's answer: ok or the reason it was refused. */
    public record Reply(boolean ok, String jobId, String message) implements WireMessage {}

    /** One job as {@code status} shows it. */
    public record JobInfo(String id, JobState state, String model, String out, String phase, String block, long done,
                          long total, String detail, double etaSeconds, String error) implements WireMessage {
        public JobInfo {
            java.util.Objects.requireNonNull(state, "a job's state"); // clients switch on it; refused on arrival if absent
        }
    }

    public record StatusReply(JobInfo[] jobs) implements WireMessage {}

    /** One node's jobs; {@code node} is its host:port. */
    public record NodeStatus(String node, JobInfo[] jobs) implements WireMessage {}

    /** Every node's jobs, in address order, and the nodes that did not answer in time. */
    public record FleetStatusReply(NodeStatus[] nodes, String[] unanswered) implements WireMessage {}

    /**
     * A progress snapshot of one job. A watcher stops at a terminal {@code state}. {@code phase} is the label of
     * the job's latest progress report (importance, collect, sandwich, checkpoint, export, evaluate ...; "starting"
     * before the first). {@code seq} grows by one per snapshot the daemon made, so a watcher sees how many it
     * skipped.
     */
    public record Progress(String jobId, JobState state, String phase, String block, long done, long total, String detail,
                           int blocksDone, int blocksTotal, double elapsedSeconds, double etaSeconds, long seq, LossPoint loss)
            implements WireMessage {
        public Progress {
            java.util.Objects.requireNonNull(state, "a job's state"); // watchers stop on it; refused on arrival if absent
        }

        /** A snapshot that is not a sandwich training step. */
        public Progress(String jobId, JobState state, String phase, String block, long done, long total, String detail,
                        int blocksDone, int blocksTotal, double elapsedSeconds, double etaSeconds, long seq) {
            this(jobId, state, phase, block, done, total, detail, blocksDone, blocksTotal, elapsedSeconds, etaSeconds, seq, null);
        }

        /** The phase of a running job that has not reported any progress yet. */
        public static final String STARTING = "starting";

        public boolean terminal() {
            return state.isTerminal();
        }
    }

    /**
     * One step of a sandwich training, carried by the snapshot it made: {@code block}'s minibatch loss of step
     * {@code step} (0-based, before its update) and/or the held-out loss measured after {@code step} steps; a figure
     * not measured at that step is NaN. A conflated watcher misses some; the job's history has them all.
     */
    public record LossPoint(String block, int step, int steps, double loss, double heldOutLoss) implements WireMessage {}

    /**
     * The sandwich training running now (or the last one, until the next starts): {@code block}'s step losses so
     * far and the held-out losses with the steps they were measured after; {@code block} is null when none ran yet.
     */
    public record LiveLosses(String jobId, String block, int steps, double[] losses, int[] heldOutSteps, double[] heldOutLosses)
            implements WireMessage {}

    /**
     * A job's history and output files as its node reads them: gzipped JSON {@code {"history": {...}, "outputs":
     * [...]}} ({@link JobHistory}), or {@code error} when the node has no such job.
     */
    public record HistoryReply(String jobId, byte[] gzippedJson, String error) implements WireMessage {}

    /** A node's HTTP API base URL, or null when it runs none. */
    public record ApiAddress(String url) implements WireMessage {}

    /**
     * The importance probe of some blocks, measured by another daemon of the fleet for a job's node: per block the
     * metric's values, or why not ({@code error} non-null: busy with a job of its own, another model, a failure).
     */
    public record ProbeReply(String node, String[] blocks, double[][] values, String error) implements WireMessage {}

    /** What a watcher receives; it answers {@link WatcherRelay.Ack} to {@code ackTo} when it can take the next one. */
    public record WatchEvent(Progress progress, ActorRef<WatcherRelay.Command> ackTo) implements WireMessage {}
}
