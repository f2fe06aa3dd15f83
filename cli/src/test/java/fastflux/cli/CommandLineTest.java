package fastflux.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.actors.Protocol;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line's habits: --version, help COMMAND, completion, suggestions, exit 2 for usage and 1 for bad input. */
class CommandLineTest {
    static MainTest.Outcome run(String... argv) {
        return MainTest.run(argv);
    }

    @Test
    void versionNamesTheBuildAndItsCommit() {
        MainTest.Outcome r = run("--version");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().matches("fastflux \\S+ \\(commit \\S+\\)\\s*"), r.out());
        assertEquals("fastflux 0.1.0 (commit 0123abcd)", Main.Version.line("0.1.0", "0123abcd"));
        assertEquals("fastflux unknown (commit unknown)", Main.Version.line(null, "${fastflux.commit}"));
    }

    @Test
    void helpCommandPrintsTheCommandsUsageFromItsOptions() {
        MainTest.Outcome r = run("help", "prune");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("Usage: fastflux prune --ratio R --out DIR [OPTIONS]"), r.out());
        for (fastflux.pruning.Option<?> o : fastflux.pruning.JobOptions.ALL) {
            assertTrue(r.out().contains(o.kind() == fastflux.pruning.Option.Kind.BOOL ? "--[no-]" + o.name() : o.flag() + "="), o.name());
        }
        assertTrue(r.out().contains("(default 150)") && r.out().contains("(default 0.0001)"), r.out());
        assertEquals(r.out(), run("prune", "--help").out());
        assertFalse(r.out().contains("--no-st") || r.out().contains("--steps"), "renamed flags are not offered");
        r = run("help");
        assertEquals(0, r.status());
        assertTrue(r.out().contains("completion") && r.out().contains("prune"), r.out());
    }

    @Test
    void completionIsABashScriptOfEveryCommandAndOption() {
        MainTest.Outcome r = run("completion");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("complete -F") && r.out().contains("_complete_fastflux"), r.out().substring(0, 300));
        for (String s : new String[] {"prune", "submit", "--lora-rank", "--sandwich-training", "--calib-steps",
            "(\"fd-align\" \"output-mse\") # --importance values"}) {
            assertTrue(r.out().contains(s), s);
        }
    }

    @Test
    void aMistypedOptionIsNamedWithTheOneMeantAndExits2() {
        MainTest.Outcome r = run("prune", "--ratoi", "0.2");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("'--ratoi'") && r.err().contains("--ratio"), r.err());
        assertTrue(r.err().contains("Usage: fastflux prune"), r.err());
        r = run("submit", "job.conf", "--prot", "25520");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("'--prot'") && r.err().contains("--port"), r.err());
    }

    @Test
    void aValueOutOfRangeExits2NamingTheOptionAndTheValue() {
        MainTest.Outcome r = run("prune", "--ratio", "0.2", "--out", "/tmp/never", "--lora-rank", "0");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("Invalid value for option '--lora-rank': LoRA rank must be at least 1, got 0"), r.err());
        r = run("prune", "--ratio", "0.2", "--out", "/tmp/never", "--eval-seeds", "-1");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("eval-seeds must be positive, got -1"), r.err());
        r = run("prune", "--ratio", "0.2", "--out", "/tmp/never", "--calib-steps", "many");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("'many' is not a whole number"), r.err());
    }

    @Test
    void aRenamedFlagExits2NamingItsNewSpelling() {
        MainTest.Outcome r = run("prune", "--ratio", "0.2", "--out", "/tmp/never", "--steps", "2");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--steps is now --calib-steps"), r.err());
        r = run("prune", "--ratio", "0.2", "--out", "/tmp/never", "--no-st");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--no-st is now --no-sandwich-training"), r.err());
        r = run("experiment", "paper-tables", "--out", "/tmp/never", "--steps", "2");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--steps is now --calib-steps"), r.err());
        r = run("bench", "forward", "--config", "flux-mid", "--random-weights");
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--config NAME is now --model-config NAME"), r.err());
    }

    @Test
    void aBadJobFileExits1WithOneLineNamingTheFileAndTheFault(@TempDir Path tmp) throws Exception {
        Path f = Files.writeString(tmp.resolve("job.conf"), "model = m\nout = o\nratio = 1.5\n");
        MainTest.Outcome r = run("submit", f.toString(), "--port", "1");
        assertEquals(1, r.status());
        assertEquals("fastflux submit: error: " + f + ": 3: ratio must be a fraction in (0, 1), got 1.5", r.err().strip());
        r = run("submit", tmp.resolve("none.conf").toString(), "--port", "1");
        assertEquals(1, r.status());
        assertTrue(r.err().strip().endsWith("job file " + tmp.resolve("none.conf") + " does not exist"), r.err());
        r = run("prune", "--ratio", "0.2", "--out", tmp.resolve("o").toString(), "--model", tmp.resolve("nope").toString());
        assertEquals(1, r.status());
        assertEquals("fastflux prune: error: model directory " + tmp.resolve("nope") + " does not exist", r.err().strip());
    }

    @Test
    void statusJsonIsOneParseableObject() {
        Protocol.JobInfo j = new Protocol.JobInfo("job-0001", fastflux.actors.JobState.RUNNING, "/m", "/o", "sandwich", "single_blocks.3", 5, 150,
                "loss 0.1", Double.NaN, null);
        JsonObject fleet = JsonParser.parseString(DaemonCommands.statusJson(new Protocol.FleetStatusReply(
                new Protocol.NodeStatus[] {new Protocol.NodeStatus("127.0.0.1:25520", new Protocol.JobInfo[] {j})},
                new String[] {"10.0.0.2:25520"})).toString()).getAsJsonObject();
        JsonObject job = fleet.getAsJsonArray("nodes").get(0).getAsJsonObject().getAsJsonArray("jobs").get(0).getAsJsonObject();
        assertEquals("job-0001", job.get("id").getAsString());
        assertEquals("running", job.get("state").getAsString());
        assertEquals(150, job.get("total").getAsLong());
        assertFalse(job.has("eta_s"), "no estimate yet");
        assertEquals("10.0.0.2:25520", fleet.getAsJsonArray("unanswered").get(0).getAsString());
    }

    @Test
    void statusJsonAgainstARunningDaemon(@TempDir Path tmp) throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        com.typesafe.config.Config c = fastflux.actors.Daemon.config(null, com.typesafe.config.ConfigFactory.parseMap(java.util.Map.of(
                "fastflux.daemon.port", port, "fastflux.daemon.state-dir", tmp.resolve("daemon").toString())));
        var system = fastflux.actors.Daemon.start(c);
        try {
            MainTest.Outcome r = run("status", "--json", "--port", Integer.toString(port));
            assertEquals(0, r.status(), r.err());
            JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
            assertEquals(1, o.getAsJsonArray("nodes").size(), r.out());
            assertEquals(0, o.getAsJsonArray("nodes").get(0).getAsJsonObject().getAsJsonArray("jobs").size(), r.out());
            r = run("status", "job-0007", "--json", "--port", Integer.toString(port));
            assertEquals(1, r.status(), "no such job");
            assertEquals(0, JsonParser.parseString(r.out()).getAsJsonObject().getAsJsonArray("jobs").size(), r.out());
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    @Test
    void certsMakesAFleetWhoseStoresOpenWithThePassword(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        java.nio.file.Path password = java.nio.file.Files.writeString(tmp.resolve("password"), "fleet-secret\n");
        MainTest.Outcome r = run("certs", "--out", tmp.resolve("fleet").toString(), "--node", "127.0.0.1,10.0.0.2",
                "--client", "alice", "--password-file", password.toString());
        assertEquals(0, r.status(), r.err());
        for (String f : new String[] {"ca.p12", "truststore.p12", "node-127.0.0.1.p12", "node-10.0.0.2.p12", "client-alice.p12"}) {
            java.nio.file.Path p = tmp.resolve("fleet").resolve(f);
            assertTrue(r.out().contains(p.toString()) || f.equals("ca.p12"), r.out());
            java.security.KeyStore ks = java.security.KeyStore.getInstance("PKCS12");
            try (var in = java.nio.file.Files.newInputStream(p)) {
                ks.load(in, "fleet-secret".toCharArray());
            }
            assertTrue(ks.size() > 0, f);
        }
        MainTest.Outcome again = run("certs", "--out", tmp.resolve("fleet").toString(), "--node", "127.0.0.1",
                "--password-file", password.toString());
        assertEquals(1, again.status(), "an existing CA is never replaced");
        MainTest.Outcome weak = run("certs", "--out", tmp.resolve("other").toString(), "--node", "127.0.0.1",
                "--password-file", java.nio.file.Files.writeString(tmp.resolve("short"), "abc").toString());
        assertEquals(1, weak.status());
        assertTrue(weak.err().contains("6 characters"), weak.err());
    }
}
