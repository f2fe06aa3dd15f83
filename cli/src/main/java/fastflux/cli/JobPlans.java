package fastflux.cli;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.model.FluxModel;
import fastflux.model.FluxParams;
import fastflux.model.Param;
import fastflux.pipeline.layout.FluxCheckpoint;
import fastflux.pruning.BaseModel;
import fastflux.pruning.JobOptions;
import fastflux.pruning.OptionValues;
import fastflux.pruning.PrecomputedCalibrationSource;
import fastflux.pruning.PruneOptions;
import fastflux.pruning.plan.DeviceMemory;
import fastflux.pruning.plan.Devices;
import fastflux.pruning.plan.JobPlan;
import fastflux.world.World;
import fastflux.world.Worlds;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A job's plan from its options, reading only configs and safetensors headers (a small world's model is opened for
 * its token counts): what {@code fastflux plan} prints and {@code fastflux prune} checks before any work.
 */
final class JobPlans {
    private JobPlans() {}

    /** FLUX.1 at 1024 x 1024: 64 x 64 latent tokens; T5's 512 text tokens (dev). */
    static final int FLUX_IMAGE_TOKENS = 64 * 64, FLUX_TEXT_TOKENS = 512;
    /** Worlds with fewer transformer parameters are opened to read their token counts. */
    private static final long SMALL_WORLD = 100_000_000L;

    /**
     * The plan of a job of {@code values} ({@link JobOptions#ALL}); {@code imageTokens}, {@code textTokens} override
     * what the model and the calibration file say (null: theirs, else FLUX.1's 1024² and 512); {@code hostMemory}
     * replaces the host's measured capacity when the devices are GPUs (null: measured).
     */
    static JobPlan plan(OptionValues values, Integer imageTokens, Integer textTokens, Long hostMemory, DeviceMemory memory) {
        Path model = values.get(JobOptions.MODEL);
        FluxCheckpoint ckpt = FluxCheckpoint.open(model);
        FluxParams p = ckpt.params();
        PruneOptions options = PruneOptions.of(values);
        Devices devices = values.get(JobOptions.DEVICES);
        DataType dtype = values.get(JobOptions.DTYPE).resolve(devices);
        Path calibFile = values.get(JobOptions.CALIB_FILE);
        int img = FLUX_IMAGE_TOKENS, txt = FLUX_TEXT_TOKENS, prompts = options.calibPrompts();
        int heldOut = Math.max(4, Math.min(16, prompts / 4));
        if (calibFile != null) {
            try (PrecomputedCalibrationSource s = PrecomputedCalibrationSource.open(calibFile, p, BaseModel.FLUX_GRID, p.guidanceEmbed())) {
                img = s.latentTokens();
                txt = s.textLength();
                prompts = s.size();
                heldOut = 0;
            }
        } else if (ckpt.layout() != FluxCheckpoint.Layout.FASTFLUX && BaseModel.hasWorld(model)) {
            // a FLUX.1 pipeline: the sizes its options ask for, without encoding prompts (as FluxWorldSettings.resolve)
            int w = orDefault(values.get(JobOptions.WIDTH), 1024), h = orDefault(values.get(JobOptions.HEIGHT), 1024);
            img = ((h + 15) / 16) * ((w + 15) / 16);
            txt = orDefault(values.get(JobOptions.MAX_SEQUENCE_LENGTH), p.guidanceEmbed() ? 512 : 256);
            prompts = orDefault(values.get(JobOptions.FIT_PROMPTS), 512);
        } else if (BaseModel.hasWorld(model) && params(p) < SMALL_WORLD) {
            try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu())) {
                World<?> w = Worlds.open(model, m);
                img = w.latentTokens();
                txt = w.textTokens();
            }
        }
        if (imageTokens != null) img = imageTokens;
        if (textTokens != null) txt = textTokens;
        JobPlan.Inputs in = new JobPlan.Inputs(p, options, devices, dtype, img, txt, prompts, heldOut,
                exportBytes(ckpt), inFlight(), false);
        Long limit = values.get(JobOptions.MEMORY_LIMIT);
        List<DeviceMemory.Capacity> caps = new ArrayList<>();
        for (ai.djl.Device d : devices.list()) caps.add(memory.capacity(d, limit));
        if (devices.gpu()) {
            caps.add(hostMemory != null ? new DeviceMemory.Capacity(hostMemory, "--host-memory") : memory.cpu());
        }
        return JobPlan.of(in, caps, Runtime.getRuntime().maxMemory());
    }

    private static int orDefault(Integer v, int d) {
        return v != null ? v : d;
    }

    private static long params(FluxParams p) {
        long n = 0;
        for (Param q : new FluxModel(p).params().values()) n += q.shape().size();
        return n;
    }

    /** Calibration batches in flight in the daemon's streams pipeline: parallelism + buffer + the one folded. */
    private static int inFlight() {
        com.typesafe.config.Config c = fastflux.actors.InProcessNode.config().getConfig("fastflux.daemon.calibration");
        return c.getBoolean("pipeline") ? c.getInt("parallelism") + c.getInt("buffer") + 1 : 1;
    }

    /** Bytes per weight of the export: the checkpoint's dtype, read from a weights file's header (fp32 when unknown). */
    private static int exportBytes(FluxCheckpoint ckpt) {
        Path w = ckpt.weights();
        try {
            if (Files.isDirectory(w)) {
                try (var s = Files.list(w)) {
                    w = s.filter(f -> f.getFileName().toString().endsWith(".safetensors")).sorted().findFirst().orElse(null);
                }
            }
            if (w == null) return 4;
            for (var e : fastflux.pipeline.layout.SafetensorsHeader.read(w).tensors().values()) {
                return switch (e.dtype()) {
                    case "F16", "BF16" -> 2;
                    case "F64" -> 8;
                    default -> 4;
                };
            }
        } catch (java.io.IOException | RuntimeException e) {
            return 4;
        }
        return 4;
    }
}
