package fastflux.actors;

import ai.djl.ndarray.NDManager;
import fastflux.model.BlockId;
import fastflux.model.ModelDir;
import fastflux.pruning.PruneJob;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * Measures the importance probe of some blocks for a job that runs on another daemon of the fleet
 * ({@link FleetProbes}): it loads the job's base model from the same path on this machine, checks that it is the
 * same model, and measures the blocks exactly as the job's own node would ({@link PruneJob#measureBlocks}). It runs
 * on the shard dispatcher (native work, one thread), one request at a time, and holds nothing between requests.
 * Any failure is answered as an error: the asking node then measures those blocks itself.
 */
final class ImportanceWorker extends AbstractBehavior<NodeSupervisor.ProbeBlocks> {
    static Behavior<NodeSupervisor.ProbeBlocks> create(String node) {
        return Behaviors.supervise(Behaviors.<NodeSupervisor.ProbeBlocks>setup(ctx -> new ImportanceWorker(ctx, node)))
                .onFailure(SupervisorStrategy.restart());
    }

    private final String node;

    private ImportanceWorker(ActorContext<NodeSupervisor.ProbeBlocks> ctx, String node) {
        super(ctx);
        this.node = node;
        ai.djl.engine.Engine.getInstance();
        ai.djl.pytorch.jni.JniUtils.setGradMode(false); // inference only, on this thread
    }

    @Override
    public Receive<NodeSupervisor.ProbeBlocks> createReceive() {
        return newReceiveBuilder().onMessage(NodeSupervisor.ProbeBlocks.class, this::onProbe).build();
    }

    private Behavior<NodeSupervisor.ProbeBlocks> onProbe(NodeSupervisor.ProbeBlocks p) {
        long t0 = System.nanoTime();
        try {
            double[][] values = measure(p);
            getContext().getLog().info("measured {} blocks' importance for {} in {} s", p.blocks().length, p.spec().out(),
                    String.format("%.1f", (System.nanoTime() - t0) / 1e9));
            p.replyTo().tell(new Protocol.ProbeReply(node, p.blocks(), values, null));
        } catch (RuntimeException e) {
            getContext().getLog().warn("could not measure importance for {}: {}", p.spec().out(), e.toString());
            p.replyTo().tell(new Protocol.ProbeReply(node, p.blocks(), null, e.getMessage() != null ? e.getMessage() : e.toString()));
        }
        return this;
    }

    private static double[][] measure(NodeSupervisor.ProbeBlocks p) {
        JobSpec spec = p.spec();
        Path model = Path.of(spec.model());
        String here = FleetProbes.fingerprint(model);
        if (!here.equals(p.fingerprint())) {
            throw new IllegalArgumentException("the model at " + model + " here is not the job's (" + here + " against "
                    + p.fingerprint() + ")");
        }
        List<BlockId> blocks = new ArrayList<>();
        var params = ModelDir.readParams(model);
        for (String b : p.blocks()) blocks.add(BlockId.parse(b, params));
        Path scratch = null;
        try (NDManager m = NDManager.newBaseManager()) {
            scratch = Files.createTempDirectory("fastflux-probe");
            PruneJob job = new PruneJob(model, scratch, spec.options(), spec.worldSettings(), PruneJob.Listener.NONE, m);
            if (spec.calibFile() != null) job.calibrationFrom(Path.of(spec.calibFile()));
            return job.measureBlocks(blocks);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } finally {
            if (scratch != null) deleteTree(scratch);
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException ignored) {
            // a scratch directory under the system's temp: left for it to clean
        }
    }
}
