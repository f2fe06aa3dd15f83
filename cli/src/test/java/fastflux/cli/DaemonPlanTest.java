package fastflux.cli;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fastflux.actors.JobSpec;
import fastflux.pruning.plan.JobPlanner;
import fastflux.pruning.plan.PlanRefusedException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The planner the daemon asks at submit is the command line's: it reads a diffusers pipeline as `fastflux plan` does. */
class DaemonPlanTest {
    @Test
    void theInstalledPlannerPlansAFluxPipelineAndRefusesWhatCannotFit(@TempDir Path tmp) {
        JobPlanner planner = JobPlanner.installed();
        assertInstanceOf(CheckpointJobPlanner.class, planner, "META-INF/services registers the command line's planner");
        Path dir = Path.of("..", "pipeline", "src", "test", "resources", "fixtures", "flux-pipeline-a", "diffusers").toAbsolutePath();
        JobSpec job = PruneCommand.job("--model", dir.toString(), "--out", tmp.resolve("out").toString(), "--ratio", "0.25",
                "--importance", "output-mse", "--width", "64", "--height", "32", "--max-sequence-length", "16",
                "--fit-prompts", "7", "--memory-limit", "1M");
        PlanRefusedException e = assertThrows(PlanRefusedException.class, () -> planner.plan(job.values()).requireFits());
        assertTrue(JobPlanner.refusal(e.getMessage()) && e.getMessage().contains("on cpu, which has 1.0 MiB (--memory-limit)"),
                e.getMessage());
        planner.plan(PruneCommand.job("--model", dir.toString(), "--out", tmp.resolve("out").toString(), "--ratio", "0.25",
                "--importance", "output-mse", "--width", "64", "--height", "32", "--max-sequence-length", "16",
                "--fit-prompts", "7").values()).requireFits(); // the machine's memory holds it
    }
}
