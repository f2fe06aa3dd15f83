package fastflux.http;

import static org.junit.jupiter.api.Assertions.*;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.typesafe.config.ConfigFactory;
import fastflux.actors.Certificates;
import fastflux.actors.Daemon;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** Bearer tokens with roles, the audit line of a control action, HTTPS, and the refusal to start unprotected. */
class HttpSecurityTest {
    @Test
    void tokensRolesAndAudit(@TempDir Path tmp) throws Exception {
        Tokens.Made reader = Tokens.make("rita", Tokens.Role.READ);
        Tokens.Made controller = Tokens.make("carl", Tokens.Role.CONTROL);
        ListAppender<ILoggingEvent> audit = new ListAppender<>();
        audit.start();
        Logger auditLog = (Logger) LoggerFactory.getLogger("fastflux.audit");
        auditLog.addAppender(audit);
        try (ApiNode n = new ApiNode(tmp, "fastflux.http { require-auth = on\ntokens = [" + reader.hocon() + ", " + controller.hocon() + "] }")) {
            HttpResponse<String> r = n.get("/api/v1/jobs", null);
            assertEquals(401, r.statusCode(), r.body());
            assertTrue(ApiNode.json(r).get("error").getAsString().contains("bearer token"), r.body());
            assertTrue(r.headers().firstValue("WWW-Authenticate").orElse("").startsWith("Bearer"), r.headers().toString());
            assertEquals(401, n.get("/api/v1/jobs", "ff_not-a-token").statusCode());
            assertEquals(401, n.get("/api/v1/jobs?access_token=" + reader.token(), null).statusCode(), "a token only travels in the header");
            assertEquals(401, n.get("/metrics", null).statusCode());
            assertEquals(200, n.get("/api/v1/jobs", reader.token()).statusCode());
            assertEquals(200, n.get("/metrics", reader.token()).statusCode());
            assertEquals(200, n.get("/health", null).statusCode(), "probes need no token");
            assertEquals(200, n.get("/api/v1/openapi.json", null).statusCode());

            r = n.post("/api/v1/jobs/job-0042/cancel", null, "", reader.token());
            assertEquals(403, r.statusCode(), r.body());
            assertTrue(ApiNode.json(r).get("error").getAsString().contains("rita"), r.body());
            r = n.post("/api/v1/jobs", "application/json", "{}", reader.token());
            assertEquals(403, r.statusCode(), "submit is a control action: " + r.body());
            assertTrue(audit.list.isEmpty(), "refused callers did nothing: " + audit.list);

            r = n.post("/api/v1/jobs/job-0042/cancel", null, "", controller.token());
            assertEquals(404, r.statusCode(), r.body());
            assertEquals("no job job-0042 in the fleet", ApiNode.json(r).get("error").getAsString());
            List<String> lines = audit.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
            assertEquals(1, lines.size(), lines.toString());
            assertEquals("token=carl action=cancel job=job-0042 result=refused: no job job-0042 in the fleet", lines.get(0));
        } finally {
            auditLog.detachAppender(audit);
        }
    }

    @Test
    void offLoopbackItRefusesToStartWithoutTlsAndTokensNamingThem() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HttpSettings.of(
                ConfigFactory.parseString("fastflux.http.host = \"10.1.2.3\"").withFallback(ConfigFactory.defaultReference())));
        assertTrue(e.getMessage().contains("fastflux.http.host = 10.1.2.3 is not a loopback address"), e.getMessage());
        for (String s : new String[] {"fastflux.daemon.key-store", "fastflux.daemon.key-store-password", "fastflux.http.tokens"}) {
            assertTrue(e.getMessage().contains(s), s + " in: " + e.getMessage());
        }
        e = assertThrows(IllegalArgumentException.class, () -> HttpSettings.of(
                ConfigFactory.parseString("fastflux.http.require-auth = on").withFallback(ConfigFactory.defaultReference())));
        assertTrue(e.getMessage().contains("fastflux.http.tokens is unset"), e.getMessage());
        assertFalse(e.getMessage().contains("key-store"), "no TLS asked on loopback: " + e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> HttpSettings.of(ConfigFactory.parseString(
                "fastflux.http.tokens = [{name = a, role = admin, sha256 = \"" + "0".repeat(64) + "\"}]").withFallback(ConfigFactory.defaultReference())));
        assertTrue(e.getMessage().contains("token a: role must be read or control"), e.getMessage());
        HttpSettings loopback = HttpSettings.of(ConfigFactory.defaultReference());
        assertFalse(loopback.tls() || loopback.auth(), "loopback, by default: plain HTTP, no token");
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            e = assertThrows(IllegalArgumentException.class, () -> HttpServer.check(ConfigFactory.parseString("fastflux.http.port = "
                    + taken.getLocalPort()).withFallback(ConfigFactory.defaultReference())));
            assertTrue(e.getMessage().startsWith("the HTTP API cannot listen on 127.0.0.1:" + taken.getLocalPort()), e.getMessage());
        } catch (java.io.IOException io) {
            throw new java.io.UncheckedIOException(io);
        }
    }

    @Test
    void httpsWithTheDaemonsKeyStore(@TempDir Path tmp) throws Exception {
        char[] password = "fleet-secret".toCharArray();
        Certificates.Fleet fleet = Certificates.makeFleet(tmp.resolve("fleet"), List.of("127.0.0.1"), List.of(), password);
        Tokens.Made t = Tokens.make("ops", Tokens.Role.READ);
        KeyStore trust = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(fleet.trustStore())) {
            trust.load(in, password);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, tmf.getTrustManagers(), null);
        // The node certificate names 127.0.0.1 as an address; the fleet CA is the only one trusted.
        HttpClient https = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).sslContext(ssl).build();
        String settings = "fastflux.http { tls = on\nrequire-auth = on\ntokens = [" + t.hocon() + "] }\nfastflux.daemon {"
                + " key-store = \"" + fleet.nodes().get("127.0.0.1") + "\"\nkey-store-password = fleet-secret }";
        try (ApiNode n = new ApiNode(tmp, settings, https)) {
            assertTrue(n.base().startsWith("https://127.0.0.1:"), n.base());
            assertEquals(200, n.get("/api/v1/jobs", t.token()).statusCode());
            assertEquals(401, n.get("/api/v1/jobs", null).statusCode());
            HttpClient plain = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            String http = n.base().replace("https://", "http://");
            assertThrows(java.io.IOException.class, () -> plain.send(HttpRequest.newBuilder(URI.create(http + "/health")).build(),
                    HttpResponse.BodyHandlers.ofString()), "plain HTTP is not served on the HTTPS port");
        }
        // The same settings without the key store: refused before anything binds, naming it.
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HttpSettings.of(Daemon.config(null,
                ConfigFactory.parseString("fastflux.http { tls = on\nrequire-auth = on\ntokens = [" + t.hocon() + "] }"))));
        assertTrue(e.getMessage().contains("fastflux.http.tls = on asks for HTTPS") && e.getMessage().contains("fastflux.daemon.key-store"),
                e.getMessage());
    }
}
