package fastflux.actors;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.ModelDir;
import fastflux.model.Param;
import fastflux.pruning.BaseModel;
import fastflux.pruning.JobOptions;
import fastflux.pruning.OptionValues;
import fastflux.pruning.PrecomputedCalibrationSource;
import fastflux.pruning.PruneOptions;
import fastflux.pruning.plan.DeviceMemory;
import fastflux.pruning.plan.Devices;
import fastflux.pruning.plan.JobPlan;
import fastflux.pruning.plan.JobPlanner;
import fastflux.world.World;
import fastflux.world.Worlds;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The plan a node makes of a job at submit, before it is queued: {@code fastflux prune}'s, against this node's
 * devices and memory (the available memory or the cgroup limit, or the job's {@code --memory-limit}). A job that
 * cannot fit is refused naming the phase and the device ({@link fastflux.pruning.plan.PlanRefusedException}).
 *
 * <p>The planner is the installed {@link JobPlanner} (the command-line module's, which reads every checkpoint layout);
 * without one, a model in the project's own layout ({@code config.json} with {@code params}, {@code model.safetensors})
 * is planned here the same way, and other layouts are not planned.
 */
public final class JobPlanning {
    private JobPlanning() {}

    /** Worlds with fewer transformer parameters are opened to read their token counts (as the command line does). */
    private static final long SMALL_WORLD = 100_000_000L;

    /**
     * The job as this node runs it: where only its sandwich phase does not fit and it names no micro-batch, with the
     * largest micro-batch that fits ({@link JobPlan#sandwichMicroBatch}); refused (PlanRefusedException) if it
     * still cannot fit.
     */
    public static JobSpec fitted(JobSpec spec) {
        JobPlan plan = plan(spec.values());
        if (plan == null) return spec;
        int mb = plan.sandwichMicroBatch();
        if (spec.get(fastflux.pruning.PruneOptions.ST_MICRO_BATCH) == 0 && mb > 0) {
            spec = spec.with(fastflux.pruning.PruneOptions.ST_MICRO_BATCH, mb);
            plan = plan(spec.values());
        }
        plan.requireFits();
        return spec;
    }

    /** The job's plan on this node, or null when no planner reads its model's layout. */
    static JobPlan plan(OptionValues values) {
        JobPlanner installed = JobPlanner.installed();
        if (installed != null) return installed.plan(values);
        Path model = values.get(JobOptions.MODEL);
        if (!Files.isRegularFile(model.resolve("model.safetensors")) || !ownLayout(model)) return null;
        return ownLayout(values, ModelDir.readParams(model), DeviceMemory.system());
    }

    private static boolean ownLayout(Path model) {
        try {
            return ModelDir.readConfig(model).has("params");
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** The plan of a job on a model in the project's own layout whose params are {@code p}. */
    static JobPlan ownLayout(OptionValues values, FluxParams p, DeviceMemory memory) {
        Path model = values.get(JobOptions.MODEL);
        PruneOptions options = PruneOptions.of(values);
        Devices devices = values.get(JobOptions.DEVICES);
        DataType dtype = values.get(JobOptions.DTYPE).resolve(devices);
        Path calibFile = values.get(JobOptions.CALIB_FILE);
        int img = 64 * 64, txt = 512, prompts = options.calibPrompts();
        int heldOut = Math.max(4, Math.min(16, prompts / 4));
        if (calibFile != null) {
            try (PrecomputedCalibrationSource s = PrecomputedCalibrationSource.open(calibFile, p, BaseModel.FLUX_GRID, p.guidanceEmbed())) {
                img = s.latentTokens();
                txt = s.textLength();
                prompts = s.size();
                heldOut = 0;
            }
        } else if (BaseModel.hasWorld(model) && params(p) < SMALL_WORLD) {
            try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu())) {
                World<?> w = Worlds.open(model, m);
                img = w.latentTokens();
                txt = w.textTokens();
            }
        }
        JobPlan.Inputs in = new JobPlan.Inputs(p, options, devices, dtype, img, txt, prompts, heldOut, 4, inFlight(), false);
        Long limit = values.get(JobOptions.MEMORY_LIMIT);
        List<DeviceMemory.Capacity> caps = new ArrayList<>();
        for (ai.djl.Device d : devices.list()) caps.add(memory.capacity(d, limit));
        if (devices.gpu()) caps.add(memory.cpu());
        return JobPlan.of(in, caps, Runtime.getRuntime().maxMemory());
    }

    private static long params(FluxParams p) {
        long n = 0;
        for (Param q : new FluxModel(p).params().values()) n += q.shape().size();
        return n;
    }

    /** Calibration batches in flight in the node's streams pipeline: parallelism + buffer + the one folded. */
    static int inFlight() {
        com.typesafe.config.Config c = InProcessNode.config().getConfig("fastflux.daemon.calibration");
        return c.getBoolean("pipeline") ? c.getInt("parallelism") + c.getInt("buffer") + 1 : 1;
    }
}
