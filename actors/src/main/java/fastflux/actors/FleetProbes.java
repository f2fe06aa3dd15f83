package fastflux.actors;

import fastflux.model.BlockId;
import fastflux.pruning.ImportanceScorer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One job's importance probe shared out over the fleet: the blocks are dealt round-robin to this node and to every
 * other daemon the receptionist lists ({@link NodeSupervisor.ProbeBlocks}, answered by their
 * {@link ImportanceWorker}); this node measures its own share meanwhile. A block's values are the same wherever
 * they are measured (the same model, prompts, seeds and code; on another kind of CPU possibly not to the last bit),
 * so the ranking is the one a lone node computes. A daemon that is busy with a job of its own or has another model
 * at the path refuses at once, and its share joins this node's own. Nothing waits on a slow or lost daemon: when
 * its own share is done, this node measures the shares not yet answered itself, block by block, taking a daemon's
 * answer instead whenever it arrives first; one that fails is measured here the same way.
 */
final class FleetProbes implements ImportanceScorer.ProbeRunner {
    private static final Logger LOG = LoggerFactory.getLogger(FleetProbes.class);
    /** How long the asked daemons have to refuse (they do at once: it is a lookup) before this node starts measuring. */
    static final Duration REFUSAL_GRACE = Duration.ofSeconds(2);

    private final ActorSystem<?> system;
    private final JobSpec spec;
    private final Duration findTimeout;
    private final Duration patience;
    private final Duration refusalGrace;
    private final Map<String, Integer> measuredBy = new LinkedHashMap<>();

    /**
     * @param patience how long this node waits for another daemon's share, once its own is done, before it starts
     *     measuring that share itself (zero in production: waiting costs time, measuring twice costs only CPU)
     */
    FleetProbes(ActorSystem<?> system, JobSpec spec, Duration findTimeout, Duration patience) {
        this(system, spec, findTimeout, patience, REFUSAL_GRACE);
    }

    /** @param refusalGrace how long the asked daemons have to refuse before this node starts measuring */
    FleetProbes(ActorSystem<?> system, JobSpec spec, Duration findTimeout, Duration patience, Duration refusalGrace) {
        this.system = system;
        this.spec = spec;
        this.findTimeout = findTimeout;
        this.patience = patience;
        this.refusalGrace = refusalGrace;
    }

    /** After {@link #run}: how many blocks each node's answer gave ("here" for this one), in the order first seen. */
    Map<String, Integer> measuredBy() {
        return measuredBy;
    }

    @Override
    public double[][] run(List<BlockId> blocks, ImportanceScorer.BlockProbe probe, ImportanceScorer.BlockProgress progress) {
        measuredBy.clear();
        List<ActorRef<NodeSupervisor.Command>> others = otherNodes();
        if (others.isEmpty() || blocks.size() < 2) {
            measuredBy.put("here", blocks.size());
            return probe.measure(blocks, progress);
        }
        int shares = Math.min(others.size() + 1, blocks.size());
        String fingerprint = fingerprint(Path.of(spec.model()));
        List<List<Integer>> share = new ArrayList<>();
        for (int k = 0; k < shares; k++) share.add(new ArrayList<>());
        for (int i = 0; i < blocks.size(); i++) share.get(i % shares).add(i);
        List<CompletableFuture<Protocol.ProbeReply>> answers = new ArrayList<>();
        for (int k = 1; k < shares; k++) {
            String[] names = share.get(k).stream().map(i -> blocks.get(i).name()).toArray(String[]::new);
            ActorRef<NodeSupervisor.Command> node = others.get(k - 1);
            answers.add(AskPattern.<NodeSupervisor.Command, Protocol.ProbeReply>ask(node,
                    r -> new NodeSupervisor.ProbeBlocks(spec, names, fingerprint, r), Duration.ofDays(7), system.scheduler())
                    .toCompletableFuture());
        }
        // Refusals come back at once (a daemon busy with its own job, another model): those shares join this node's
        // own, measured in the same pass (output-mse measures any number of blocks in one pass over the calibration).
        List<Integer> mineIdx = new ArrayList<>(share.get(0));
        boolean[] folded = new boolean[shares];
        long graceEnd = System.nanoTime() + refusalGrace.toNanos();
        for (int k = 1; k < shares; k++) {
            Duration left = Duration.ofNanos(Math.max(0, graceEnd - System.nanoTime()));
            Protocol.ProbeReply r = checked(await(answers.get(k - 1), left), share.get(k).size());
            if (r != null && r.error() != null) {
                LOG.warn("{} will not measure {} blocks' importance ({}); measured here", r.node(), share.get(k).size(), r.error());
                mineIdx.addAll(share.get(k));
                folded[k] = true;
            }
        }
        double[][] out = new double[blocks.size()][];
        int[] done = {0};
        ImportanceScorer.BlockProgress counted = (d, block) -> progress.probed(++done[0], block);
        measureHere(mineIdx, blocks, probe, counted, out);
        for (int k = 1; k < shares; k++) {
            if (folded[k]) continue;
            CompletableFuture<Protocol.ProbeReply> answer = answers.get(k - 1);
            List<Integer> asked = share.get(k);
            List<Integer> left = new ArrayList<>(asked);
            Protocol.ProbeReply reply = checked(await(answer, patience), asked.size());
            while (!left.isEmpty()) {
                if (reply == null && answer.isDone()) reply = checked(await(answer, Duration.ZERO), asked.size());
                if (reply != null && reply.error() == null) { // answered: the rest of the share from there
                    for (int i : left) {
                        out[i] = reply.values()[asked.indexOf(i)];
                        counted.probed(0, blocks.get(i));
                    }
                    credit(reply.node(), left.size());
                    break;
                }
                if (reply != null) { // refused or failed: the rest of the share here, in one pass
                    LOG.warn("{} did not measure {} blocks' importance ({}); measured here", reply.node(), left.size(), reply.error());
                    measureHere(left, blocks, probe, counted, out);
                    break;
                }
                measureHere(List.of(left.remove(0)), blocks, probe, counted, out); // not answered yet: one block here
            }
        }
        LOG.info("importance of {} blocks measured by {}", blocks.size(), measuredBy);
        return out;
    }

    /** Measures {@code idx} of {@code blocks} here, in one pass, into {@code out}. */
    private void measureHere(List<Integer> idx, List<BlockId> blocks, ImportanceScorer.BlockProbe probe,
                             ImportanceScorer.BlockProgress progress, double[][] out) {
        double[][] v = probe.measure(idx.stream().map(blocks::get).toList(), progress);
        for (int j = 0; j < v.length; j++) out[idx.get(j)] = v[j];
        credit("here", v.length);
    }

    /** The reply, or an error reply when it does not hold one row of values per block asked. */
    private static Protocol.ProbeReply checked(Protocol.ProbeReply r, int blocks) {
        if (r == null || r.error() != null) return r;
        boolean whole = r.values() != null && r.values().length == blocks
                && java.util.Arrays.stream(r.values()).allMatch(java.util.Objects::nonNull);
        return whole ? r : new Protocol.ProbeReply(r.node(), r.blocks(), null, "answered " + (r.values() == null ? 0
                : r.values().length) + " rows for " + blocks + " blocks");
    }

    private void credit(String node, int blocks) {
        measuredBy.merge(node, blocks, Integer::sum);
    }

    /** The answer if it comes within {@code wait}, else null; a failed ask is an answer with its error. */
    private static Protocol.ProbeReply await(CompletableFuture<Protocol.ProbeReply> answer, Duration wait) {
        try {
            return answer.get(wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            return null;
        } catch (ExecutionException e) {
            return new Protocol.ProbeReply("a daemon", new String[0], null, String.valueOf(e.getCause()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** The daemons of the fleet other than this one (none outside a cluster). */
    private List<ActorRef<NodeSupervisor.Command>> otherNodes() {
        if (!system.settings().config().getString("pekko.actor.provider").equals("cluster")) return List.of();
        try {
            Receptionist.Listing listing = AskPattern.<Receptionist.Command, Receptionist.Listing>ask(system.receptionist(),
                    r -> Receptionist.find(FleetQuery.KEY, r), findTimeout, system.scheduler()).toCompletableFuture()
                    .get(findTimeout.toMillis() * 2, TimeUnit.MILLISECONDS);
            Address self = system.address();
            List<ActorRef<NodeSupervisor.Command>> out = new ArrayList<>();
            for (ActorRef<NodeSupervisor.Command> n : listing.getServiceInstances(FleetQuery.KEY)) {
                Address a = n.path().address();
                if (a.hasGlobalScope() && !a.equals(self)) out.add(n);
            }
            out.sort(java.util.Comparator.comparing(n -> n.path().address().toString()));
            return out;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return List.of();
        } catch (ExecutionException | TimeoutException e) {
            LOG.warn("could not list the fleet ({}); measuring every block's importance here", e.toString());
            return List.of();
        }
    }

    /**
     * What must agree for two daemons to hold the same model at a path: the weights file's size and SHA-256 of its
     * first and last MiB (header and all) and of {@code config.json}. Cheap on a 24 GB checkpoint; a weights file
     * edited only in its middle would pass.
     */
    static String fingerprint(Path model) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(Files.readAllBytes(model.resolve("config.json")));
            Path w = model.resolve("model.safetensors");
            long size = Files.size(w);
            int edge = (int) Math.min(size, 1 << 20);
            try (var ch = java.nio.channels.FileChannel.open(w)) {
                var buf = java.nio.ByteBuffer.allocate(edge);
                ch.read(buf, 0);
                d.update(buf.flip());
                buf.clear();
                ch.read(buf, size - edge);
                d.update(buf.flip());
            }
            return size + ":" + HexFormat.of().formatHex(d.digest()).substring(0, 16);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the model at " + model, e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
