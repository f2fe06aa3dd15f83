package fastflux.http;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import fastflux.actors.Protocol;

/**
 * The daemon's answers as JSON, one form for every client: {@code fastflux status --json} and {@code watch --json}
 * print these, and the HTTP API sends them ({@code GET /api/v1/jobs}, the events of {@code /api/v1/jobs/{id}/events}).
 */
public final class JobJson {
    private JobJson() {}

    /** A fleet's status as one JSON object: its nodes with their jobs, and the nodes that did not answer. */
    public static JsonObject fleet(Protocol.FleetStatusReply f) {
        JsonObject o = new JsonObject();
        JsonArray nodes = new JsonArray();
        for (Protocol.NodeStatus n : f.nodes()) {
            JsonObject node = new JsonObject();
            node.addProperty("node", n.node());
            node.add("jobs", jobs(n.jobs()));
            nodes.add(node);
        }
        o.add("nodes", nodes);
        JsonArray unanswered = new JsonArray();
        for (String n : f.unanswered()) unanswered.add(n);
        o.add("unanswered", unanswered);
        return o;
    }

    /** One daemon's answer about one job id: {@code {"jobs": [...]}}, empty when it has no such job. */
    public static JsonObject status(Protocol.StatusReply s) {
        JsonObject o = new JsonObject();
        o.add("jobs", jobs(s.jobs()));
        return o;
    }

    public static JsonArray jobs(Protocol.JobInfo[] jobs) {
        JsonArray a = new JsonArray();
        for (Protocol.JobInfo j : jobs) a.add(job(j));
        return a;
    }

    /** One job as {@code status} shows it; {@code done}/{@code total} count blocks. */
    public static JsonObject job(Protocol.JobInfo j) {
        JsonObject o = new JsonObject();
        o.addProperty("id", j.id());
        o.addProperty("state", String.valueOf(j.state()));
        o.addProperty("model", j.model());
        o.addProperty("out", j.out());
        o.addProperty("phase", j.phase());
        o.addProperty("block", j.block());
        o.addProperty("done", j.done());
        o.addProperty("total", j.total());
        o.addProperty("detail", j.detail());
        if (Double.isFinite(j.etaSeconds())) o.addProperty("eta_s", Math.round(j.etaSeconds() * 10) / 10.0);
        o.addProperty("error", j.error());
        return o;
    }

    /**
     * One progress snapshot, as {@code watch --json} prints it a line at a time and the SSE stream sends it; a
     * sandwich training step's snapshot also has {@code "loss"} ({@link #loss}).
     */
    public static JsonObject progress(Protocol.Progress p) {
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
        if (p.loss() != null) o.add("loss", loss(p.loss()));
        return o;
    }

    /**
     * A sandwich training step: {@code {"block", "step", "steps", "train", "held_out"}}, {@code train} the minibatch
     * loss of step {@code step} (0-based, before its update), {@code held_out} the held-out loss after {@code step}
     * steps; each present only when measured at that step.
     */
    public static JsonObject loss(Protocol.LossPoint l) {
        JsonObject o = new JsonObject();
        o.addProperty("block", l.block());
        o.addProperty("step", l.step());
        o.addProperty("steps", l.steps());
        if (Double.isFinite(l.loss())) o.addProperty("train", l.loss());
        if (Double.isFinite(l.heldOutLoss())) o.addProperty("held_out", l.heldOutLoss());
        return o;
    }

    /** An error body: {@code {"error": "..."}}. */
    public static String error(String message) {
        JsonObject o = new JsonObject();
        o.addProperty("error", message == null ? "" : message);
        return o.toString();
    }
}
