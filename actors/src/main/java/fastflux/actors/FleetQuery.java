package fastflux.actors;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * The daemons of one Pekko Cluster seen as one fleet ({@code fastflux.daemon.seed-nodes}). Every node registers its
 * {@link NodeSupervisor} with the receptionist under {@link #KEY}; a node asked to place a job or to list the
 * fleet's jobs runs one FleetQuery, a short-lived child: it finds the nodes, asks each for its jobs, and then
 * either answers with all of them or submits the job to the node with the fewest queued and running jobs (the
 * asking node on a tie, then the lowest address). A node that does not answer within the timeout is left out and
 * named. A lone daemon is a fleet of one: the query asks only itself.
 */
final class FleetQuery {
    static final ServiceKey<NodeSupervisor.Command> KEY = ServiceKey.create(NodeSupervisor.Command.class, "fastflux-node");

    private FleetQuery() {}

    interface Msg {}

    private record Found(Receptionist.Listing listing) implements Msg {}

    private record Answered(ActorRef<NodeSupervisor.Command> node, Protocol.StatusReply reply) implements Msg {}

    private record Submitted(String node, Protocol.Reply reply) implements Msg {}

    /** Lists every node's jobs. */
    static Behavior<Msg> status(ActorRef<NodeSupervisor.Command> self, Duration timeout,
                                ActorRef<Protocol.FleetStatusReply> replyTo) {
        return Behaviors.setup(ctx -> find(ctx, self, timeout, (nodes, unanswered) -> {
            List<Protocol.NodeStatus> out = new ArrayList<>();
            nodes.forEach((node, s) -> out.add(new Protocol.NodeStatus(address(ctx, node), s.jobs())));
            replyTo.tell(new Protocol.FleetStatusReply(out.toArray(new Protocol.NodeStatus[0]), unanswered.toArray(new String[0])));
            return Behaviors.stopped();
        }));
    }

    /**
     * Submits {@code spec} to the least loaded node. Refused, whichever node would take it, when an active job
     * anywhere in the fleet already writes to its {@code out}.
     */
    static Behavior<Msg> place(ActorRef<NodeSupervisor.Command> self, Duration timeout, JobSpec spec,
                               ActorRef<Protocol.Reply> replyTo) {
        return Behaviors.setup(ctx -> find(ctx, self, timeout, (nodes, unanswered) -> {
            for (Map.Entry<ActorRef<NodeSupervisor.Command>, Protocol.StatusReply> e : nodes.entrySet()) {
                for (Protocol.JobInfo j : e.getValue().jobs()) {
                    if (active(j) && RealPaths.same(j.out(), spec.out())) {
                        replyTo.tell(new Protocol.Reply(false, null, "job " + j.id() + " (" + j.state() + ") on "
                                + address(ctx, e.getKey()) + " already writes to " + spec.out()));
                        return Behaviors.stopped();
                    }
                }
            }
            ActorRef<NodeSupervisor.Command> target = nodes.keySet().stream()
                    .min(Comparator.<ActorRef<NodeSupervisor.Command>>comparingLong(n -> load(nodes.get(n)))
                            .thenComparing(n -> !n.equals(self))
                            .thenComparing(n -> address(ctx, n)))
                    .orElse(self);
            String where = address(ctx, target);
            boolean fleet = nodes.size() + unanswered.size() > 1;
            ctx.ask(Protocol.Reply.class, target, timeout, r -> new NodeSupervisor.Submit(spec, r),
                    (reply, err) -> new Submitted(where, reply != null ? reply
                            : new Protocol.Reply(false, null, "node " + where + " did not take the job: " + err)));
            return Behaviors.receive(Msg.class)
                    .onMessage(Submitted.class, s -> {
                        Protocol.Reply r = s.reply();
                        replyTo.tell(fleet && r.ok() ? new Protocol.Reply(true, r.jobId(), r.message() + " on " + s.node()
                                + " (watch, pause, resume, cancel it with --node " + s.node() + ")") : r);
                        return Behaviors.stopped();
                    })
                    .build();
        }));
    }

    /**
     * Finds the member that has job {@code jobId}: this node when it has it, else the one member that does; with
     * {@code node} (host:port) only that member. A member that does not answer is named, since the job may be there.
     */
    static Behavior<Msg> locate(ActorRef<NodeSupervisor.Command> self, Duration timeout, String jobId, String node,
                                ActorRef<NodeSupervisor.Located> replyTo) {
        return Behaviors.setup(ctx -> find(ctx, self, timeout, (nodes, unanswered) -> {
            replyTo.tell(located(ctx, self, jobId, node == null ? "" : node.trim(), nodes, unanswered));
            return Behaviors.stopped();
        }));
    }

    private static NodeSupervisor.Located located(ActorContext<Msg> ctx, ActorRef<NodeSupervisor.Command> self, String jobId,
            String node, Map<ActorRef<NodeSupervisor.Command>, Protocol.StatusReply> nodes, List<String> unanswered) {
        Map<ActorRef<NodeSupervisor.Command>, Protocol.JobInfo> has = new LinkedHashMap<>();
        for (Map.Entry<ActorRef<NodeSupervisor.Command>, Protocol.StatusReply> e : nodes.entrySet()) {
            for (Protocol.JobInfo j : e.getValue().jobs()) if (j.id().equals(jobId)) has.put(e.getKey(), j);
        }
        String silent = String.join(", ", unanswered);
        if (!node.isEmpty()) {
            for (ActorRef<NodeSupervisor.Command> n : nodes.keySet()) {
                if (!address(ctx, n).equals(node)) continue;
                return has.containsKey(n) ? found(ctx, self, n, has.get(n))
                        : new NodeSupervisor.Located(null, node, null, false, 404, "no job " + jobId + " on member " + node);
            }
            for (String u : unanswered) {
                if (u.equals(node) || u.startsWith(node + " ")) {
                    return new NodeSupervisor.Located(null, node, null, false, 503, "member " + u + " did not answer; job "
                            + jobId + " is there, if anywhere");
                }
            }
            List<String> known = new ArrayList<>();
            for (ActorRef<NodeSupervisor.Command> n : nodes.keySet()) known.add(address(ctx, n));
            return new NodeSupervisor.Located(null, node, null, false, 404, "no fleet member " + node + " (members: "
                    + String.join(", ", known) + ")");
        }
        if (has.containsKey(self)) return found(ctx, self, self, has.get(self));
        if (has.size() == 1) {
            ActorRef<NodeSupervisor.Command> n = has.keySet().iterator().next();
            return found(ctx, self, n, has.get(n));
        }
        if (has.size() > 1) {
            List<String> where = new ArrayList<>();
            for (ActorRef<NodeSupervisor.Command> n : has.keySet()) where.add(address(ctx, n));
            return new NodeSupervisor.Located(null, "", null, false, 409, "members " + String.join(", ", where) + " each have a job "
                    + jobId + ": name one with ?node=HOST:PORT");
        }
        if (!unanswered.isEmpty()) {
            return new NodeSupervisor.Located(null, "", null, false, 503, "no answering member has job " + jobId
                    + "; not answered: " + silent + " (the job may be there)");
        }
        return new NodeSupervisor.Located(null, "", null, false, 404, "no job " + jobId + " in the fleet");
    }

    private static NodeSupervisor.Located found(ActorContext<Msg> ctx, ActorRef<NodeSupervisor.Command> self,
                                                ActorRef<NodeSupervisor.Command> n, Protocol.JobInfo j) {
        return new NodeSupervisor.Located(n, address(ctx, n), j, n.equals(self), 200, null);
    }

    static boolean active(Protocol.JobInfo j) {
        return j.state().isActive();
    }

    /** Jobs that hold or wait for the node's device: running and queued ones. */
    static long load(Protocol.StatusReply s) {
        long n = 0;
        for (Protocol.JobInfo j : s.jobs()) if (j.state().wantsDevice()) n++;
        return n;
    }

    /** host:port of a node; the local node's from the system, whose refs carry no host. */
    static String address(ActorContext<?> ctx, ActorRef<?> node) {
        Address a = node.path().address();
        if (!a.hasGlobalScope()) a = ctx.getSystem().address();
        return a.getHost().isPresent() ? a.getHost().get() + ":" + a.getPort().get() : a.toString();
    }

    /**
     * Cluster members that are not among {@code seen}, each with why: one the cluster finds unreachable (its
     * daemon killed, its machine or network down) has left the receptionist's listing, but it is still part of
     * the fleet and should be named. Empty for a lone daemon.
     */
    static List<String> missingMembers(ActorContext<?> ctx, List<String> seen) {
        if (!ctx.getSystem().settings().config().getString("pekko.actor.provider").equals("cluster")) return List.of();
        ClusterEvent.CurrentClusterState state = Cluster.get(ctx.getSystem()).state();
        Set<Member> unreachable = state.getUnreachable();
        List<String> out = new ArrayList<>();
        for (Member m : state.getMembers()) {
            Address a = m.address();
            String hp = a.getHost().isPresent() ? a.getHost().get() + ":" + a.getPort().get() : a.toString();
            if (seen.contains(hp)) continue;
            out.add(hp + (unreachable.contains(m) ? " (unreachable)" : " (" + m.status().toString().toLowerCase() + ", no daemon listed)"));
        }
        return out;
    }

    @FunctionalInterface
    private interface Then {
        Behavior<Msg> apply(Map<ActorRef<NodeSupervisor.Command>, Protocol.StatusReply> nodes, List<String> unanswered);
    }

    /** Finds the fleet's nodes, asks each for its jobs, then continues with the answers (in address order). */
    private static Behavior<Msg> find(ActorContext<Msg> ctx, ActorRef<NodeSupervisor.Command> self, Duration timeout, Then then) {
        ActorRef<Receptionist.Listing> listings = ctx.messageAdapter(Receptionist.Listing.class, Found::new);
        ctx.getSystem().receptionist().tell(Receptionist.find(KEY, listings));
        return Behaviors.receive(Msg.class)
                .onMessage(Found.class, f -> {
                    Set<ActorRef<NodeSupervisor.Command>> found = f.listing().getServiceInstances(KEY);
                    List<ActorRef<NodeSupervisor.Command>> nodes = new ArrayList<>(found);
                    if (!nodes.contains(self)) nodes.add(self); // its registration may not have arrived yet
                    nodes.sort(Comparator.comparing(n -> address(ctx, n)));
                    for (ActorRef<NodeSupervisor.Command> n : nodes) {
                        ctx.ask(Protocol.StatusReply.class, n, timeout, r -> new NodeSupervisor.GetStatus("", r),
                                (reply, err) -> new Answered(n, reply));
                    }
                    return collect(ctx, nodes, new LinkedHashMap<>(), new ArrayList<>(), then);
                })
                .build();
    }

    private static Behavior<Msg> collect(ActorContext<Msg> ctx, List<ActorRef<NodeSupervisor.Command>> nodes,
                                         Map<ActorRef<NodeSupervisor.Command>, Protocol.StatusReply> answers,
                                         List<ActorRef<NodeSupervisor.Command>> silent, Then then) {
        return Behaviors.receive(Msg.class)
                .onMessage(Answered.class, a -> {
                    if (a.reply() == null) silent.add(a.node());
                    else answers.put(a.node(), a.reply());
                    if (answers.size() + silent.size() < nodes.size()) return Behaviors.same();
                    Map<ActorRef<NodeSupervisor.Command>, Protocol.StatusReply> ordered = new LinkedHashMap<>();
                    for (ActorRef<NodeSupervisor.Command> n : nodes) if (answers.containsKey(n)) ordered.put(n, answers.get(n));
                    List<String> unanswered = new ArrayList<>();
                    for (ActorRef<NodeSupervisor.Command> n : silent) unanswered.add(address(ctx, n));
                    List<String> seen = new ArrayList<>(unanswered);
                    for (ActorRef<NodeSupervisor.Command> n : ordered.keySet()) seen.add(address(ctx, n));
                    unanswered.addAll(missingMembers(ctx, seen));
                    return then.apply(ordered, unanswered);
                })
                .build();
    }
}
