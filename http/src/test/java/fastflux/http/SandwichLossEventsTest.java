package fastflux.http;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import fastflux.actors.Daemon;
import fastflux.actors.DeviceShard;
import fastflux.actors.NodeSupervisor;
import fastflux.actors.TinyJobs;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each sandwich training step reaches an SSE client as it happens: with a relay window larger than the job's
 * snapshots nothing is conflated, so the stream carries every step's training loss of every block in order, and the
 * held-out losses where they were measured, the same values as the job's history. The job is held at its first
 * phase until the client is connected, so no step happens before it listens.
 */
class SandwichLossEventsTest {
    private static final int ST_STEPS = 7;

    @Test
    void everyStepsLossArrivesInOrderAndMatchesTheHistory(@TempDir Path tmp) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        DeviceShard.FailureInjector holdFirstPhase = (phase, completed) -> {
            if (phase.equals("importance")) {
                try {
                    connected.await(2, TimeUnit.MINUTES);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        Config c = Daemon.config(null, ConfigFactory.parseString("pekko.actor.provider = local\n"
                + "pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off\n"
                + "fastflux.daemon.watcher-buffer = 100000\n" // never conflated: every snapshot goes out
                + "fastflux.daemon.state-dir = \"" + tmp.resolve("state") + "\"\n"
                + "fastflux.daemon.allowed-roots = [\"" + tmp + "\"]\nfastflux.http.port = 0\n"));
        ActorSystem<NodeSupervisor.Command> system =
                ActorSystem.create(NodeSupervisor.create(Daemon.settings(c, holdFirstPhase)), Daemon.SYSTEM, c);
        try {
            HttpServer http = HttpServer.start(system, c);
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            String job = "{\"model\": \"" + base + "\", \"out\": \"" + tmp.resolve("out") + "\", \"ratio\": 0.34, "
                    + "\"importance\": \"output-mse\", \"calib-prompts\": 6, \"calib-steps\": 2, \"st-steps\": " + ST_STEPS
                    + ", \"lora-rank\": 4, \"lora-alpha\": 4, \"seed\": 0, \"eval\": false}";
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(http.url() + "api/v1/jobs"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(job)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(201, r.statusCode(), r.body());
            String id = JsonParser.parseString(r.body()).getAsJsonObject().get("id").getAsString();

            HttpResponse<Stream<String>> events = client.send(HttpRequest.newBuilder(URI.create(http.url() + "api/v1/jobs/" + id + "/events"))
                    .build(), HttpResponse.BodyHandlers.ofLines());
            assertEquals(200, events.statusCode());
            connected.countDown(); // the watcher is registered once the response has started
            List<JsonObject> progress = new ArrayList<>();
            try (Stream<String> lines = events.body()) {
                lines.filter(l -> l.startsWith("data:")).forEach(l -> progress.add(JsonParser.parseString(l.substring(5)).getAsJsonObject()));
            }
            assertEquals("done", progress.get(progress.size() - 1).get("state").getAsString(), progress.toString());

            // per block, in the order trained: its step losses and held-out losses as the events carried them
            Map<String, List<Double>> train = new LinkedHashMap<>();
            Map<String, List<int[]>> heldSteps = new LinkedHashMap<>();
            Map<String, List<Double>> held = new LinkedHashMap<>();
            long seq = -1;
            for (JsonObject p : progress) {
                assertTrue(p.get("seq").getAsLong() >= seq, "in order");
                seq = p.get("seq").getAsLong();
                if (!p.has("loss")) continue;
                JsonObject l = p.getAsJsonObject("loss");
                String block = l.get("block").getAsString();
                assertEquals("sandwich", p.get("phase").getAsString(), p.toString());
                assertEquals(block, p.get("block").getAsString(), "a step's snapshot names the block it trains");
                assertEquals(ST_STEPS, l.get("steps").getAsInt());
                int step = l.get("step").getAsInt();
                if (l.has("train")) {
                    List<Double> t = train.computeIfAbsent(block, k -> new ArrayList<>());
                    assertEquals(t.size(), step, "step " + step + " of " + block + " after " + t.size() + " steps: " + l);
                    t.add(l.get("train").getAsDouble());
                }
                if (l.has("held_out")) {
                    heldSteps.computeIfAbsent(block, k -> new ArrayList<>()).add(new int[] {step});
                    held.computeIfAbsent(block, k -> new ArrayList<>()).add(l.get("held_out").getAsDouble());
                }
            }
            assertEquals(2, train.size(), "two blocks trained: " + train.keySet());

            HttpResponse<String> h = client.send(HttpRequest.newBuilder(URI.create(http.url() + "api/v1/jobs/" + id + "/history")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, h.statusCode(), h.body());
            JsonArray blocks = JsonParser.parseString(h.body()).getAsJsonObject().getAsJsonArray("blocks");
            List<String> order = new ArrayList<>();
            for (JsonElement e : blocks) {
                JsonObject b = e.getAsJsonObject();
                String block = b.get("block").getAsString();
                order.add(block);
                JsonObject t = b.getAsJsonObject("training");
                List<Double> losses = new ArrayList<>();
                t.getAsJsonArray("losses").forEach(x -> losses.add(x.getAsDouble()));
                assertEquals(losses, train.get(block), "the events' step losses of " + block + " are the history's");
                List<Double> ho = new ArrayList<>();
                t.getAsJsonArray("held_out_losses").forEach(x -> ho.add(x.getAsDouble()));
                List<Integer> hs = new ArrayList<>();
                t.getAsJsonArray("held_out_steps").forEach(x -> hs.add(x.getAsInt()));
                assertFalse(ho.isEmpty(), "held-out prompts give a held-out curve");
                assertEquals(ho, held.get(block), "the events' held-out losses of " + block);
                assertEquals(hs, heldSteps.get(block).stream().map(a -> a[0]).toList(), "measured after the same steps");
            }
            assertEquals(new ArrayList<>(train.keySet()), order, "the blocks in the order trained");
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
        }
    }
}
