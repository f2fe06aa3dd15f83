package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.typed.ActorSystem;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Mutual TLS on the remoting port: when it is required, what a missing setting says, who gets in. */
class TransportTest {
    static final String PASSWORD = "fleet-secret";
    @TempDir
    static Path certs;
    static Certificates.Fleet fleet;
    static Certificates.Fleet other;

    @BeforeAll
    static void makeCertificates() {
        fleet = Certificates.makeFleet(certs.resolve("fleet"), List.of("127.0.0.1"), List.of("alice"), PASSWORD.toCharArray());
        other = Certificates.makeFleet(certs.resolve("other"), List.of(), List.of("mallory"), "other-secret".toCharArray());
    }

    static Config config(String hocon) {
        return Daemon.config(null, ConfigFactory.parseString(hocon));
    }

    /** A loopback node or client forced onto TLS with {@code keyStore}. */
    static Config tls(int port, Path keyStore, Path trustStore, String password, Path state) {
        return config("fastflux.daemon { port = " + port + "\ntls = on\nkey-store = \"" + keyStore + "\"\ntrust-store = \""
                + trustStore + "\"\nkey-store-password = \"" + password + "\"\ntrust-store-password = \"" + password
                + "\"\nstate-dir = \"" + state + "\" }\npekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off");
    }

    /** A daemon of a fleet on {@code seeds}, on TLS with the fleet's node certificate. */
    static Config fleetNode(int port, int[] seeds, Path state) {
        StringBuilder list = new StringBuilder();
        for (int s : seeds) list.append(list.length() == 0 ? "" : ", ").append("\"127.0.0.1:").append(s).append('"');
        return Daemon.config(null, ConfigFactory.parseString("fastflux.daemon.seed-nodes = [" + list + "]\npekko.cluster.jmx.enabled = off\n"
                + "pekko.loglevel = WARNING").withFallback(ConfigFactory.parseString("fastflux.daemon { port = " + port + "\ntls = on\n"
                + "key-store = \"" + fleet.nodes().get("127.0.0.1") + "\"\ntrust-store = \"" + fleet.trustStore() + "\"\n"
                + "key-store-password = \"" + PASSWORD + "\"\ntrust-store-password = \"" + PASSWORD + "\"\nstate-dir = \"" + state
                + "\" }\npekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off")));
    }

    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void aNetworkAddressWithoutKeyAndTrustStoresIsRefusedNamingEachMissingSetting() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> config("fastflux.daemon.host = \"192.0.2.1\""));
        assertTrue(e.getMessage().startsWith("fastflux.daemon.host = 192.0.2.1 is not a loopback address, so its remoting port is mutual TLS"),
                e.getMessage());
        for (String s : Transport.STORE_SETTINGS) assertTrue(e.getMessage().contains("fastflux.daemon." + s), s + ": " + e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> config("fastflux.daemon { host = \"192.0.2.1\"\nkey-store = \""
                + fleet.nodes().get("127.0.0.1") + "\"\nkey-store-password = " + PASSWORD + " }"));
        assertTrue(e.getMessage().contains("needs fastflux.daemon.trust-store, fastflux.daemon.trust-store-password (unset)"), e.getMessage());
        assertFalse(e.getMessage().contains("fastflux.daemon.key-store,"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> config("pekko.remote.artery.bind.hostname = \"0.0.0.0\""));
        assertTrue(e.getMessage().startsWith("pekko.remote.artery.bind.hostname = 0.0.0.0 is not a loopback address"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> config("fastflux.daemon.tls = on"));
        assertTrue(e.getMessage().startsWith("fastflux.daemon.tls = on, so its remoting port is mutual TLS"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> config("fastflux.daemon.tls = off"));
        assertTrue(e.getMessage().contains("expected auto or on"), e.getMessage());
    }

    @Test
    void storesThatCannotServeAreNamed(@TempDir Path tmp) {
        Path node = fleet.nodes().get("127.0.0.1");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tls(1, fleet.trustStore(), fleet.trustStore(), PASSWORD, tmp));
        assertTrue(e.getMessage().contains("holds no private key"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> tls(1, node, node, PASSWORD, tmp));
        assertTrue(e.getMessage().contains("holds no trusted certificate"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> tls(1, node, fleet.trustStore(), "wrong-password", tmp));
        assertTrue(e.getMessage().startsWith("fastflux.daemon.key-store = " + node + " cannot be read"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> tls(1, tmp.resolve("none.p12"), fleet.trustStore(), PASSWORD, tmp));
        assertTrue(e.getMessage().endsWith("none.p12 does not exist"), e.getMessage());
    }

    @Test
    void loopbackIsPlainTcpAndTlsOnIsMutualTlsThatCannotBeOverridden(@TempDir Path tmp) throws Exception {
        Config plain = config("");
        assertFalse(Transport.tlsRequired(plain));
        assertEquals("tcp", plain.getString("pekko.remote.artery.transport"));

        Config c = tls(25520, fleet.nodes().get("127.0.0.1"), fleet.trustStore(), PASSWORD, tmp);
        assertEquals("tls-tcp", c.getString("pekko.remote.artery.transport"));
        assertEquals(RefusedConnections.Tls.class.getName(), c.getString("pekko.remote.artery.ssl.ssl-engine-provider"));
        assertTrue(c.getBoolean("pekko.remote.artery.ssl.config-ssl-engine.require-mutual-authentication"));
        assertFalse(c.getBoolean("pekko.remote.artery.ssl.config-ssl-engine.hostname-verification"));
        assertEquals(fleet.trustStore().toString(), c.getString("pekko.remote.artery.ssl.config-ssl-engine.trust-store"));
        // An application.conf cannot switch TLS off; a system property (above everything) is refused instead.
        Path app = tmp.resolve("application.conf");
        Files.writeString(app, "pekko.remote.artery.transport = tcp\nfastflux.daemon = " + c.getConfig("fastflux.daemon").root().render(
                com.typesafe.config.ConfigRenderOptions.concise()));
        assertEquals("tls-tcp", Daemon.config(app, ConfigFactory.empty()).getString("pekko.remote.artery.transport"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Transport.check(
                ConfigFactory.parseString("pekko.remote.artery.transport = tcp").withFallback(c)));
        assertTrue(e.getMessage().contains("pekko.remote.artery.transport = tcp overrides that"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Transport.check(ConfigFactory.parseString(
                "pekko.remote.artery.ssl.config-ssl-engine.require-mutual-authentication = off").withFallback(c)));
        assertTrue(e.getMessage().contains("require-mutual-authentication = off overrides that"), e.getMessage());
    }

    @Test
    void membersChainToTheFleetCaAndNodesNameTheirHost() throws Exception {
        KeyStore trust = Certificates.load(fleet.trustStore(), PASSWORD.toCharArray());
        assertEquals(List.of("fleet-ca"), Transport.aliases(trust, false));
        assertEquals(List.of(), Transport.aliases(trust, true));
        X509Certificate ca = (X509Certificate) trust.getCertificate("fleet-ca");
        assertTrue(ca.getBasicConstraints() >= 0, "the CA may sign");

        KeyStore node = Certificates.load(fleet.nodes().get("127.0.0.1"), PASSWORD.toCharArray());
        String alias = Transport.aliases(node, true).get(0);
        java.security.cert.Certificate[] chain = node.getCertificateChain(alias);
        assertEquals(2, chain.length);
        X509Certificate leaf = (X509Certificate) chain[0];
        leaf.verify(ca.getPublicKey());
        assertEquals(-1, leaf.getBasicConstraints(), "a member signs nothing");
        assertTrue(leaf.getSubjectX500Principal().getName().contains("CN=127.0.0.1"), leaf.getSubjectX500Principal().getName());
        assertTrue(leaf.getSubjectAlternativeNames().stream().anyMatch(n -> n.get(1).equals("127.0.0.1")));
        assertTrue(leaf.getExtendedKeyUsage().containsAll(List.of("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2")), "server and client auth");

        KeyStore client = Certificates.load(fleet.clients().get("alice"), PASSWORD.toCharArray());
        X509Certificate alice = (X509Certificate) client.getCertificateChain(Transport.aliases(client, true).get(0))[0];
        alice.verify(ca.getPublicKey());
        assertTrue(alice.getSubjectX500Principal().getName().startsWith("CN=alice"), alice.getSubjectX500Principal().getName());
        X509Certificate mallory = (X509Certificate) Certificates.load(other.clients().get("mallory"), "other-secret".toCharArray())
                .getCertificateChain("client-mallory")[0];
        assertThrows(java.security.SignatureException.class, () -> mallory.verify(ca.getPublicKey()), "another CA's member");

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Certificates.makeFleet(
                certs.resolve("fleet"), List.of(), List.of(), PASSWORD.toCharArray()));
        assertTrue(e.getMessage().contains("ca.p12 already exists"), e.getMessage());
        assertTrue(Files.isRegularFile(fleet.caCertificate()));
    }

    @Test
    void onlyAClientWithTheFleetsCertificateReachesADaemonOnTls(@TempDir Path tmp) throws Exception {
        int port = freePort();
        ActorSystem<NodeSupervisor.Command> daemon = Daemon.start(tls(port, fleet.nodes().get("127.0.0.1"), fleet.trustStore(),
                PASSWORD, tmp.resolve("state")));
        try {
            Config alice = tls(port, fleet.clients().get("alice"), fleet.trustStore(), PASSWORD, tmp);
            Config mallory = tls(port, other.clients().get("mallory"), other.trustStore(), "other-secret", tmp);
            try (DaemonClient c = new DaemonClient(alice, Duration.ofSeconds(20))) {
                Protocol.StatusReply s = c.ask(r -> new NodeSupervisor.GetStatus("", r));
                assertEquals(0, s.jobs().length);
            }
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> new DaemonClient(mallory, Duration.ofSeconds(5)));
            assertTrue(e.getMessage().startsWith("no fastflux daemon answers at 127.0.0.1:" + port + " (TLS with 127.0.0.1:" + port
                    + " failed"), e.getMessage());
            // The daemon still serves the fleet.
            try (DaemonClient c = new DaemonClient(alice, Duration.ofSeconds(20))) {
                assertEquals(0, c.<Protocol.StatusReply>ask(r -> new NodeSupervisor.GetStatus("", r)).jobs().length);
            }
        } finally {
            daemon.terminate();
            daemon.getWhenTerminated().toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    @Test
    void aFleetOfTwoFormsOverMutualTlsAndAnswersItsClient(@TempDir Path tmp) throws Exception {
        int a = freePort();
        int b = freePort();
        int[] seeds = {a, b};
        Config ca = fleetNode(a, seeds, tmp.resolve("state-a"));
        assertEquals("cluster", ca.getString("pekko.actor.provider"));
        assertEquals("tls-tcp", ca.getString("pekko.remote.artery.transport"));
        ActorSystem<NodeSupervisor.Command> na = Daemon.start(ca);
        ActorSystem<NodeSupervisor.Command> nb = Daemon.start(fleetNode(b, seeds, tmp.resolve("state-b")));
        try {
            FleetTest.awaitFleetOfTwo(na, nb);
            Config alice = tls(b, fleet.clients().get("alice"), fleet.trustStore(), PASSWORD, tmp);
            try (DaemonClient c = new DaemonClient(alice, Duration.ofSeconds(20))) {
                Protocol.FleetStatusReply f = c.ask(NodeSupervisor.GetFleetStatus::new);
                assertEquals(java.util.Set.of("127.0.0.1:" + a, "127.0.0.1:" + b), java.util.Arrays.stream(f.nodes())
                        .map(Protocol.NodeStatus::node).collect(java.util.stream.Collectors.toSet()));
            }
        } finally {
            na.terminate();
            nb.terminate();
            na.getWhenTerminated().toCompletableFuture().get(60, java.util.concurrent.TimeUnit.SECONDS);
            nb.getWhenTerminated().toCompletableFuture().get(60, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    @Test
    void pekkosAbortedConnectionEventBecomesOneLine() {
        assertEquals("dropped a connection from 127.0.0.1:36058 to the remoting port: its first bytes (01 02 03) are not Pekko"
                + " Artery's protocol header", RefusedConnections.describe("Aborting connection from 127.0.0.1:36058 because of"
                + " downstream failure: org.apache.pekko.stream.scaladsl.Framing$FramingException: Stream didn't start with"
                + " expected magic bytes, got [01 02 03] Connection is rejected. Probably invalid accidental access."));
        assertEquals("dropped a connection from 10.0.0.5:4000 to the remoting port: bad Artery framing (Stream finished but"
                + " there was a truncated final frame in the buffer)", RefusedConnections.describe("Aborting connection from"
                + " 10.0.0.5:4000 because of downstream failure: org.apache.pekko.stream.scaladsl.Framing$FramingException:"
                + " Stream finished but there was a truncated final frame in the buffer"));
        assertNull(RefusedConnections.describe("Aborting connection from 127.0.0.1:1 because of downstream failure:"
                + " org.apache.pekko.remote.artery.ArteryTransport$ShutdownSignal$: ShutdownSignal"), "shutdown is not a refusal");
        assertNull(RefusedConnections.describe("Closing connection from 127.0.0.1:1 because downstream cancelled stream without failure"));
    }
}
