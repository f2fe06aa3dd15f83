package fastflux.cli;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fastflux.actors.JobSpec;
import fastflux.pruning.JobOptions;
import fastflux.pruning.PruneOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What `submit` checks before it sends a job: the paths only when the daemon shares this machine's files. */
class DaemonCommandsTest {
    static JobSpec spec(String model, double ratio) {
        return JobSpec.of(Path.of(model), Path.of("/srv/runs/out"), ratio).with(PruneOptions.IMPORTANCE, "output-mse")
                .with(JobOptions.EVAL, false);
    }

    @Test
    void aRemoteDaemonsPathsAreItsOwnButBadOptionsAreCaughtHere() {
        JobSpec elsewhere = spec("/srv/models/flux1-dev-not-on-this-machine", 0.2);
        IllegalArgumentException local = assertThrows(IllegalArgumentException.class,
                () -> DaemonCommands.checkBeforeSending(elsewhere, "127.0.0.1"));
        assertTrue(local.getMessage().contains("does not exist"), local.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DaemonCommands.checkBeforeSending(elsewhere, "localhost"));
        assertDoesNotThrow(() -> DaemonCommands.checkBeforeSending(elsewhere, "10.0.0.12"));
        IllegalArgumentException ratio = assertThrows(IllegalArgumentException.class,
                () -> DaemonCommands.checkBeforeSending(spec("/srv/models/m", 1.5), "10.0.0.12"));
        assertTrue(ratio.getMessage().contains("ratio"), ratio.getMessage());
        IllegalArgumentException same = assertThrows(IllegalArgumentException.class,
                () -> DaemonCommands.checkBeforeSending(spec("/srv/runs/out", 0.2), "10.0.0.12"));
        assertTrue(same.getMessage().contains("out must differ from model"), same.getMessage());
    }

    @Test
    void aJobFilesBadValueIsNamedWithItsFileAndLineOnce(@TempDir Path tmp) throws Exception {
        Path f = Files.writeString(tmp.resolve("job.conf"), "model = \"m\"\nout = \"o\"\nratio = \"lots\"\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JobSpec.read(f, tmp));
        assertTrue(e.getMessage().startsWith(f + ": 3: ratio has type STRING rather than NUMBER"), e.getMessage());
        Files.writeString(f, "model = \"m\"\nout = {");
        e = assertThrows(IllegalArgumentException.class, () -> JobSpec.read(f, tmp));
        assertTrue(e.getMessage().startsWith("job file " + f + ": 2: "), e.getMessage());
        assertTrue(e.getMessage().indexOf(f.toString()) == e.getMessage().lastIndexOf(f.toString()), e.getMessage());
    }

    @Test
    void theExampleJobFileReadsAndBothLearningRatesReachTheOptions(@TempDir Path tmp) throws Exception {
        Path example = Path.of("..", "config", "example-job.conf");
        JobSpec spec = JobSpec.read(example, tmp);
        assertEquals(1e-3, spec.options().lr());
        assertEquals(1e-4, spec.options().linearLr());
        Path f = Files.writeString(tmp.resolve("job.conf"), "model = \"m\"\nout = \"o\"\nratio = 0.2\nlinear-lr = 0\n");
        assertEquals(0.0, JobSpec.read(f, tmp).options().linearLr()); // the linears stay as fitted
        assertEquals(1e-3, JobSpec.read(f, tmp).options().lr());
    }
}
