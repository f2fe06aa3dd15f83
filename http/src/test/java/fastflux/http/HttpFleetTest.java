package fastflux.http;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import fastflux.actors.Daemon;
import fastflux.actors.JobSpec;
import fastflux.actors.NodeSupervisor;
import fastflux.actors.Protocol;
import fastflux.actors.TinyJobs;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Any daemon's API answers for its whole fleet, as {@code fastflux status} does: two daemons of one Pekko Cluster
 * (two actor systems in this JVM), the API on the first lists both, is ready once it is a member, relays the
 * routes of a job of the second (its detail, history and events followed to its end, another of its jobs
 * cancelled; its files refused with 421 naming the second's API), and names the second once that one is gone.
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
                "pekko.coordinated-shutdown.run-by-actor-system-terminate = off\nfastflux.daemon.allowed-roots = [\""
                        + tmp.toRealPath() + "\"]"));
        try {
            HttpServer api = HttpServer.start(na, node(a, a, tmp.resolve("a"), ""));
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            String base = api.url();
            JsonObject fleet = await(http, base, f -> f.getAsJsonArray("nodes").size() == 2);
            java.util.Set<String> nodes = new java.util.TreeSet<>();
            fleet.getAsJsonArray("nodes").forEach(n -> nodes.add(n.getAsJsonObject().get("node").getAsString()));
            assertEquals(new java.util.TreeSet<>(java.util.List.of("127.0.0.1:" + a, "127.0.0.1:" + b)), nodes, fleet.toString());
            assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(base + "ready")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());

            // Two jobs on B (the second queued behind the first), seen and steered through A's API.
            String apiB = HttpServer.start(nb, node(b, a, tmp.resolve("b"), "")).url();
            String bAddress = "127.0.0.1:" + b;
            Path model = TinyJobs.baseModel(tmp.resolve("base"));
            String first = submit(nb, model, tmp.resolve("out-1"));
            String second = submit(nb, model, tmp.resolve("out-2"));
            HttpResponse<String> r = get(http, base + "api/v1/jobs/" + second);
            assertEquals(200, r.statusCode(), r.body());
            JsonObject queued = JsonParser.parseString(r.body()).getAsJsonObject();
            assertEquals(bAddress, queued.get("node").getAsString(), r.body());
            assertEquals(tmp.resolve("out-2").toString(), queued.get("out").getAsString(), r.body());
            assertEquals(0.34, queued.getAsJsonObject("options").get("ratio").getAsDouble(), r.body());
            r = http.send(HttpRequest.newBuilder(URI.create(base + "api/v1/jobs/" + second + "/cancel"))
                    .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("cancelled", JsonParser.parseString(get(http, base + "api/v1/jobs/" + second).body())
                    .getAsJsonObject().get("state").getAsString());

            // B's running job through A: its events to its end, then its history.
            HttpResponse<java.util.stream.Stream<String>> events = http.send(HttpRequest.newBuilder(URI.create(base + "api/v1/jobs/"
                    + first + "/events")).build(), HttpResponse.BodyHandlers.ofLines());
            assertEquals(200, events.statusCode());
            java.util.List<JsonObject> progress = new java.util.ArrayList<>();
            try (java.util.stream.Stream<String> lines = events.body()) {
                lines.filter(l -> l.startsWith("data:")).forEach(l -> progress.add(JsonParser.parseString(l.substring(5)).getAsJsonObject()));
            }
            assertFalse(progress.isEmpty());
            progress.forEach(p -> assertEquals(first, p.get("job").getAsString()));
            assertEquals("done", progress.get(progress.size() - 1).get("state").getAsString(), progress.toString());
            r = get(http, base + "api/v1/jobs/" + first + "/history");
            assertEquals(200, r.statusCode(), r.body());
            JsonObject history = JsonParser.parseString(r.body()).getAsJsonObject();
            assertEquals("report.json", history.get("source").getAsString(), r.body());
            assertEquals(2, history.getAsJsonArray("blocks").size(), r.body());
            assertTrue(history.getAsJsonArray("blocks").get(0).getAsJsonObject().getAsJsonObject("training").getAsJsonArray("losses").size() > 0);
            // its files are served by B's own API: A names it
            r = get(http, base + "api/v1/jobs/" + first + "/files/importance.png");
            assertEquals(421, r.statusCode(), r.body());
            assertTrue(r.body().contains(bAddress) && r.body().contains(apiB + "api/v1/jobs/" + first + "/files/importance.png"), r.body());
            assertEquals(200, get(http, apiB + "api/v1/jobs/" + first + "/files/importance.png").statusCode());
            assertEquals(421, get(http, base + "api/v1/jobs/" + first + "/report").statusCode());
            // a member named that does not have it, and an id no member has
            r = get(http, base + "api/v1/jobs/" + first + "?node=127.0.0.1:" + a);
            assertEquals(404, r.statusCode(), r.body());
            assertTrue(r.body().contains("no job " + first + " on member 127.0.0.1:" + a), r.body());
            assertEquals(404, get(http, base + "api/v1/jobs/job-0042").statusCode());

            nb.terminate();
            nb.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
            fleet = await(http, base, f -> f.getAsJsonArray("unanswered").size() == 1);
            assertEquals(1, fleet.getAsJsonArray("nodes").size(), fleet.toString());
            assertTrue(fleet.getAsJsonArray("unanswered").get(0).getAsString().startsWith("127.0.0.1:" + b), fleet.toString());
            // B's job now: the member that may have it is named
            HttpResponse<String> gone = get(http, base + "api/v1/jobs/job-0001");
            assertEquals(503, gone.statusCode(), gone.body());
            assertTrue(gone.body().contains("127.0.0.1:" + b), gone.body());
            gone = get(http, base + "api/v1/jobs/job-0001/events?node=127.0.0.1:" + b);
            assertEquals(503, gone.statusCode(), gone.body());
            assertTrue(gone.body().contains("member 127.0.0.1:" + b), gone.body());
        } finally {
            nb.terminate();
            na.terminate();
            na.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
        }
    }

    static HttpResponse<String> get(HttpClient http, String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(java.time.Duration.ofSeconds(60)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** Queues the micro job on {@code node} itself (not placed by the fleet); its id. */
    static String submit(ActorSystem<NodeSupervisor.Command> node, Path model, Path out) throws Exception {
        JobSpec spec = JobSpec.parse("{\"model\": \"" + model + "\", \"out\": \"" + out + "\", \"ratio\": 0.34, "
                + "\"importance\": \"output-mse\", \"calib-prompts\": 6, \"calib-steps\": 2, \"st-steps\": 3, \"lora-rank\": 4, "
                + "\"lora-alpha\": 4, \"seed\": 0, \"eval\": false}", com.typesafe.config.ConfigSyntax.JSON, "test job");
        Protocol.Reply r = AskPattern.<NodeSupervisor.Command, Protocol.Reply>ask(node, reply -> new NodeSupervisor.Submit(spec, reply),
                java.time.Duration.ofSeconds(30), node.scheduler()).toCompletableFuture().get(60, TimeUnit.SECONDS);
        assertTrue(r.ok(), r.message());
        return r.jobId();
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
