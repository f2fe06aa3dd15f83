package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import fastflux.pruning.JobOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A daemon in its own process confines its jobs to its allowed roots, and its errors never read a file for the
 * client: every refusal here comes over the wire from the daemon to this JVM.
 */
class DaemonConfinementProcessTest {
    @Test
    void jobsOutsideTheAllowedRootsAreRefusedAndNoErrorQuotesAFile(@TempDir Path tmp) throws Exception {
        Path allowed = Files.createDirectories(tmp.resolve("allowed"));
        Path outside = Files.createDirectories(tmp.resolve("outside"));
        Path base = TinyJobs.baseModel(allowed.resolve("base"));
        Files.createSymbolicLink(allowed.resolve("link"), outside);
        Path passwd = Files.writeString(allowed.resolve("prompts.tsv"), "root:x:0:0:root:/root:/bin/bash\n");
        Path badModel = Files.createDirectories(allowed.resolve("bad-model"));
        Files.copy(base.resolve("model.safetensors"), badModel.resolve("model.safetensors"));
        Files.writeString(badModel.resolve("config.json"), "{\"params\": {\"hidden_size\": ");
        try (DaemonProcess d = new DaemonProcess(tmp.resolve("state"))) {
            d.option("-Dfastflux.daemon.allowed-roots.0=" + allowed).start();
            try (DaemonClient c = d.client()) {
                String roots = "outside the daemon's allowed roots [" + allowed.toRealPath() + "]";
                assertRefused(c, TinyJobs.spec(base, outside.resolve("out")), "out " + outside.resolve("out") + " is " + roots);
                assertRefused(c, TinyJobs.spec(base, allowed.resolve("link/out")), "out " + allowed.resolve("link/out") + " is " + roots);
                assertRefused(c, TinyJobs.spec(base, allowed.resolve("../outside/out")), roots);
                assertRefused(c, TinyJobs.spec(outside, allowed.resolve("out")), "model " + outside + " is " + roots);

                // a file outside the roots: refused without reading it, and without saying whether it exists
                String there = refusal(c, evalPrompts(base, allowed, Path.of("/etc/passwd")));
                String notThere = refusal(c, evalPrompts(base, allowed, Path.of("/etc/no-such-file")));
                assertEquals("eval-prompts /etc/passwd is " + roots + " (fastflux.daemon.allowed-roots)", there);
                assertEquals(there.replace("/etc/passwd", "/etc/no-such-file"), notThere);

                // a file inside the roots that is not a prompt file: its line is named, its content is not
                String quoted = refusal(c, evalPrompts(base, allowed, passwd));
                assertTrue(quoted.contains(passwd + ":1: expected 'category<TAB>prompt'"), quoted);
                assertFalse(quoted.contains("root") && quoted.contains("/bin/bash"), quoted);

                // a malformed config.json is named at submit, not when the job starts
                String config = refusal(c, TinyJobs.spec(badModel, allowed.resolve("out2")));
                assertTrue(config.contains(badModel.resolve("config.json").toString()), config);

                assertTrue(d.alive(), "the daemon stays up");
                Protocol.StatusReply s = c.ask(r -> new NodeSupervisor.GetStatus("", r));
                assertEquals(0, s.jobs().length, "nothing was queued");
                Protocol.Reply ok = c.ask(r -> new NodeSupervisor.Submit(TinyJobs.spec(base, allowed.resolve("out")), r));
                assertTrue(ok.ok(), ok.message());
            }
        }
    }

    private static JobSpec evalPrompts(Path base, Path allowed, Path prompts) {
        return TinyJobs.spec(base, allowed.resolve("out")).with(JobOptions.EVAL, true).with(JobOptions.EVAL_PROMPTS, prompts);
    }

    private static String refusal(DaemonClient c, JobSpec spec) {
        Protocol.Reply r = c.ask(rr -> new NodeSupervisor.Submit(spec, rr));
        assertFalse(r.ok(), "refused: " + spec);
        return r.message();
    }

    private static void assertRefused(DaemonClient c, JobSpec spec, String expected) {
        String m = refusal(c, spec);
        assertTrue(m.contains(expected), m);
    }
}
