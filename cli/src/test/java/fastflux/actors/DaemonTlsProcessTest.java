package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import java.io.OutputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A daemon process on mutual TLS (forced on loopback): who gets in, who does not, and what the daemon logs. */
class DaemonTlsProcessTest {
    static final String PASSWORD = "fleet-secret";

    @Test
    void onlyTheFleetsCertificateCanSubmitPauseOrCancelAndTheDaemonOutlivesTheRest(@TempDir Path tmp) throws Exception {
        Certificates.Fleet fleet = Certificates.makeFleet(tmp.resolve("fleet"), List.of("127.0.0.1"), List.of("alice"),
                PASSWORD.toCharArray());
        Certificates.Fleet other = Certificates.makeFleet(tmp.resolve("other"), List.of(), List.of("mallory"),
                "other-secret".toCharArray());
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        Path state = tmp.resolve("state");
        // job-0001, paused: what the intruders try to resume, cancel and pause.
        new JobRegistry(state).save(List.of(new JobRegistry.Job("job-0001", TinyJobs.spec(base, tmp.resolve("out1")), JobState.PAUSED, null)));
        try (DaemonProcess d = new DaemonProcess(state)) {
            d.tls(fleet.nodes().get("127.0.0.1"), fleet.trustStore(), PASSWORD, fleet.clients().get("alice")).start();
            // Bytes that are not TLS at all.
            try (Socket s = new Socket("127.0.0.1", d.port); OutputStream out = s.getOutputStream()) {
                out.write("AKKA garbage, not a TLS client hello".getBytes());
                out.flush();
                s.getInputStream().read();
            } catch (java.io.IOException e) {
                // the daemon may reset the connection: that is the point
            }
            Path intruderOut = tmp.resolve("intruder-out");
            Process p = new ProcessBuilder(DaemonProcess.java("fastflux.actors.Intruder", Integer.toString(d.port), "20",
                    fleet.trustStore().toString(), fleet.clients().get("alice").toString(), PASSWORD,
                    other.clients().get("mallory").toString(), "other-secret", base.toString(), intruderOut.toString()))
                    .redirectErrorStream(true).redirectOutput(tmp.resolve("intruder.log").toFile()).start();
            boolean finished = p.waitFor(120, TimeUnit.SECONDS);
            if (!finished) p.destroyForcibly().waitFor();
            String intruders = Files.readString(tmp.resolve("intruder.log"));
            assertTrue(finished, "the intruders finished:\n" + intruders);
            assertEquals(0, p.exitValue(), intruders);
            for (String who : new String[] {"plain", "no-certificate", "other-ca"}) {
                assertTrue(intruders.contains(who + ": 0 replies"), who + " got nothing back:\n" + intruders);
            }
            assertTrue(intruders.lines().anyMatch(l -> l.matches("fleet: [1-9][0-9]* replies")),
                    "the same process with the fleet's certificate is answered:\n" + intruders);
            assertTrue(d.alive(), "the daemon is up; see " + d.log);

            try (DaemonClient alice = d.client()) {
                Protocol.StatusReply s = alice.ask(r -> new NodeSupervisor.GetStatus("", r));
                assertEquals(1, s.jobs().length, "no intruder's job");
                assertEquals(JobState.PAUSED, s.jobs()[0].state(), "job-0001 neither resumed nor cancelled");
                assertFalse(Files.exists(intruderOut), "the intruders' job was never validated");

                Protocol.Reply submitted = alice.ask(r -> new NodeSupervisor.Submit(TinyJobs.spec(base, tmp.resolve("out2")), r));
                assertTrue(submitted.ok(), submitted.message());
                assertEquals("job-0002", submitted.jobId());
                // A watcher over TLS: the daemon's relay answers on its own connection back to the client.
                java.util.concurrent.CompletableFuture<Protocol.Progress> first = new java.util.concurrent.CompletableFuture<>();
                Thread watcher = new Thread(() -> {
                    try (DaemonClient w = d.client()) {
                        w.watch("job-0002", first::complete);
                    } catch (RuntimeException e) {
                        first.completeExceptionally(e);
                    }
                });
                watcher.setDaemon(true);
                watcher.start();
                assertEquals("job-0002", first.get(60, TimeUnit.SECONDS).jobId());
                Protocol.Reply paused = alice.ask(r -> new NodeSupervisor.Pause("job-0002", r));
                assertTrue(paused.ok(), paused.message());
                Protocol.Reply cancelled = alice.ask(r -> new NodeSupervisor.Cancel("job-0001", r));
                assertTrue(cancelled.ok() && cancelled.message().equals("job-0001 cancelled"), cancelled.message());
            }
            String log = d.logText();
            assertTrue(log.contains("(mutual TLS)"), log);
            // One line for each dropped connection; which alert a handshake ends with is the JDK's.
            String dropped = "dropped a connection to the remoting port 127.0.0.1:" + d.port + ": its TLS handshake failed (";
            for (String reason : new String[] {"Unrecognized SSL message", "Empty client certificate chain", "PKIX path validation failed"}) {
                assertTrue(log.lines().anyMatch(l -> l.contains(dropped + reason)), reason + " is logged:\n" + log);
            }
        }
    }

    @Test
    void aDaemonOnANetworkAddressWithoutItsStoresRefusesToStartAndSaysWhichSettingsAreMissing(@TempDir Path tmp) throws Exception {
        // 192.0.2.1 (TEST-NET-1) is not this machine's: nothing could bind there even if the check let it through.
        List<String> cmd = DaemonProcess.java("fastflux.cli.Main", "daemon", "--node", "192.0.2.1:25520");
        cmd.add(1, "-Dfastflux.daemon.state-dir=" + tmp.resolve("state"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("daemon.log").toFile());
        pb.environment().remove("FASTFLUX_TLS_PASSWORD");
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the daemon exited");
        String out = Files.readString(tmp.resolve("daemon.log"));
        assertNotEquals(0, p.exitValue(), out);
        assertTrue(out.contains("fastflux.daemon.host = 192.0.2.1 is not a loopback address, so its remoting port is mutual TLS, which needs"
                + " fastflux.daemon.key-store, fastflux.daemon.key-store-password, fastflux.daemon.trust-store,"
                + " fastflux.daemon.trust-store-password (unset)"), out);
        assertFalse(out.contains("listening"), out);
    }
}
