package fastflux.http;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import fastflux.actors.Daemon;
import fastflux.actors.NodeSupervisor;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Any daemon's API answers for its whole fleet, as {@code fastflux status} does: two daemons of one Pekko Cluster
 * (two actor systems in this JVM), the API on the first lists both, is ready once it is a member, and names the
 * second once that one is gone.
 */
class HttpFleetTest {
    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static Config node(int port, int seed, Path state, String more) {
        return Daemon.config(null, ConfigFactory.parseString(more + "\nfastflux.daemon { port = " + port + "\nstate-dir = \"" + state
                + "\"\nseed-nodes = [\"127.0.0.1:" + seed + "\"] }\nfastflux.http.port = 0\npekko.loglevel = WARNING\n"
                + "pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off\npekko.cluster.jmx.enabled = off"));
    }

    @Test
    void theFleetsJobsFromEitherDaemonAndTheOneGoneNamed(@TempDir Path tmp) throws Exception {
        int a = freePort(), b = freePort();
        ActorSystem<NodeSupervisor.Command> na = Daemon.start(node(a, a, tmp.resolve("a"), ""));
        // B's end is a crash's, not a leave: the fleet still counts it as a member, unreachable.
        ActorSystem<NodeSupervisor.Command> nb = Daemon.start(node(b, a, tmp.resolve("b"),
                "pekko.coordinated-shutdown.run-by-actor-system-terminate = off"));
        try {
            HttpServer api = HttpServer.start(na, node(a, a, tmp.resolve("a"), ""));
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            String base = api.url();
            JsonObject fleet = await(http, base, f -> f.getAsJsonArray("nodes").size() == 2);
            java.util.Set<String> nodes = new java.util.TreeSet<>();
            fleet.getAsJsonArray("nodes").forEach(n -> nodes.add(n.getAsJsonObject().get("node").getAsString()));
            assertEquals(new java.util.TreeSet<>(java.util.List.of("127.0.0.1:" + a, "127.0.0.1:" + b)), nodes, fleet.toString());
            assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(base + "ready")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());

            nb.terminate();
            nb.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
            fleet = await(http, base, f -> f.getAsJsonArray("unanswered").size() == 1);
            assertEquals(1, fleet.getAsJsonArray("nodes").size(), fleet.toString());
            assertTrue(fleet.getAsJsonArray("unanswered").get(0).getAsString().startsWith("127.0.0.1:" + b), fleet.toString());
        } finally {
            nb.terminate();
            na.terminate();
            na.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
        }
    }

    static JsonObject await(HttpClient http, String base, java.util.function.Predicate<JsonObject> until) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        JsonObject f = null;
        while (System.nanoTime() < deadline) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "api/v1/jobs")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            f = JsonParser.parseString(r.body()).getAsJsonObject();
            if (until.test(f)) return f;
            Thread.sleep(300);
        }
        fail("the fleet did not get there within 90 s: " + f);
        return f;
    }
}
