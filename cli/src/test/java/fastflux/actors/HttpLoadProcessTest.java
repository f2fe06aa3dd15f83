package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 35 §4: 200 SSE clients on a daemon (its own process, loopback) running a micro job. The daemon is warmed
 * with the same job once, without clients (its first job loads the engine; it is also the reference model). Then
 * the second job runs with the 200 clients connected, 20 of which read nothing until it has ended: the server's
 * gauge counts all 200, the model is byte for byte the reference, and the daemon's resident memory at its most
 * while the job runs with the clients is less than 200 MB above what it was before the job started. Structural:
 * counts, bytes and memory, never a duration (the waits are bounds).
 */
class HttpLoadProcessTest {
    static final int CLIENTS = 200;
    static final int STALLED = 20;
    static final long RSS_BUDGET_KB = 200 * 1024;
    /** The micro job: one block of the six replaced, four calibration prompts (the smallest working set). */
    static final String RATIO = "0.17";
    static final String PROMPTS = "4";

    @Test
    void twoHundredEventStreamsNeitherChangeNorSlowTheJob(@TempDir Path tmp) throws Exception {
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        int httpPort;
        try (ServerSocket s = new ServerSocket(0)) {
            httpPort = s.getLocalPort();
        }
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(30)).build();
        String api = "http://127.0.0.1:" + httpPort;
        // The heap and the malloc arenas as bin/fastflux runs them (docs/stack-notes.md): glibc gives each thread
        // that allocates an arena of its own (up to 8 per core) and a job starts new threads (its shard, trainer,
        // calibration stream); capped at 2 arenas, what is measured is what the job and the clients hold, not how
        // freed memory scatters over arenas (docs/http-api.md has the figures with glibc's default).
        try (DaemonProcess d = new DaemonProcess(tmp.resolve("state")).option("-Dfastflux.http.port=" + httpPort)
                .option("-Xms64m").option("-XX:+UseSerialGC").env("MALLOC_ARENA_MAX", "2")) {
            d.start();
            awaitStatus(http, api + "/ready", 200);
            long pid = d.pid();
            // Warm-up and reference: the same job once with no client. The first job of a daemon loads the engine
            // (libtorch, its thread pools) and the model's classes, which no later job adds again.
            Path reference = tmp.resolve("reference");
            String first = submit(http, api, base, reference);
            long warmStart = rssKb(pid);
            long warmPeak = warmStart;
            while (!job(http, api, first).get("state").getAsString().equals("done")) {
                warmPeak = Math.max(warmPeak, rssKb(pid));
                assertTrue(d.alive(), "daemon alive; see " + d.log);
                Thread.sleep(200);
            }

            // The measured job: the daemon's RSS before it starts, and at most while it runs with the 200 clients
            // connected (paused after its first phase until all are counted, so that all of them follow the job).
            long before = rssKb(pid);
            Path out = tmp.resolve("out");
            String id = submit(http, api, base, out);
            long[] peak = {before};
            pauseOnceRunning(http, api, id, () -> peak[0] = Math.max(peak[0], rssKb(pid)));
            peak[0] = Math.max(peak[0], rssKb(pid));

            List<Client> clients = new ArrayList<>();
            for (int i = 0; i < CLIENTS; i++) {
                Client c = new Client(i < STALLED);
                http.sendAsync(HttpRequest.newBuilder(URI.create(api + "/api/v1/jobs/" + id + "/events")).build(),
                        HttpResponse.BodyHandlers.fromLineSubscriber(c)).whenComplete((resp, e) -> {
                            if (e != null) c.end.completeExceptionally(e);
                            else if (resp.statusCode() != 200) c.end.completeExceptionally(new AssertionError("status " + resp.statusCode()));
                        });
                clients.add(c);
            }
            awaitGauge(http, api, CLIENTS);
            long connected = rssKb(pid);
            peak[0] = Math.max(peak[0], connected);
            assertEquals(200, post(http, api + "/api/v1/jobs/" + id + "/resume").statusCode());
            // Sampled while the job runs to its end, with the stalled clients still reading nothing.
            while (!clients.stream().filter(c -> !c.stalled).allMatch(c -> c.end.isDone())) {
                peak[0] = Math.max(peak[0], rssKb(pid));
                Thread.sleep(200);
                assertTrue(d.alive(), "daemon alive; see " + d.log);
            }
            assertEquals("done", awaitJob(http, api, id, j -> j.get("state").getAsString().equals("done")).get("state").getAsString(),
                    "the job ended while " + STALLED + " clients read nothing");
            peak[0] = Math.max(peak[0], rssKb(pid));
            for (Client c : clients) if (c.stalled) c.release();
            CompletableFuture.allOf(clients.stream().map(c -> c.end).toArray(CompletableFuture[]::new)).get(5, TimeUnit.MINUTES);
            int steps = 0;
            for (Client c : clients) {
                assertEquals("done", c.lastState.get(), "each client's last event is the job's end");
                assertTrue(c.events.get() >= 1);
                steps += c.lossEvents.get();
            }
            awaitGauge(http, api, 0);
            byte[] alone = Files.readAllBytes(reference.resolve("model.safetensors"));
            assertArrayEquals(alone, Files.readAllBytes(out.resolve("model.safetensors")),
                    "the model with 200 clients is the one without: max relative difference "
                            + TinyJobs.relative(alone, out.resolve("model.safetensors"), tmp));
            String figures = String.format("%d SSE clients: daemon RSS %d kB when the warm-up job started, at most %d kB while it"
                    + " ran (+%d kB); %d kB before the measured job, %d kB with the clients connected (job paused), at most %d kB"
                    + " while it ran with them: +%d kB (budget %d kB); the clients received %d sandwich-step events", CLIENTS,
                    warmStart, warmPeak, warmPeak - warmStart, before, connected, peak[0], peak[0] - before, RSS_BUDGET_KB, steps);
            System.out.println(figures);
            assertTrue(peak[0] - before < RSS_BUDGET_KB, figures);
        }
    }

    /** One SSE client; a stalled one takes its first line and then nothing until released. */
    static final class Client implements Flow.Subscriber<String> {
        final boolean stalled;
        final CompletableFuture<Void> end = new CompletableFuture<>();
        final AtomicInteger events = new AtomicInteger();
        final AtomicReference<String> lastState = new AtomicReference<>();
        final AtomicInteger lossEvents = new AtomicInteger();
        private volatile Flow.Subscription subscription;

        Client(boolean stalled) {
            this.stalled = stalled;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            s.request(stalled ? 1 : Long.MAX_VALUE);
        }

        void release() {
            subscription.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(String line) {
            if (!line.startsWith("data:")) return;
            events.incrementAndGet();
            JsonObject p = JsonParser.parseString(line.substring(5)).getAsJsonObject();
            if (p.has("loss")) lossEvents.incrementAndGet();
            lastState.set(p.get("state").getAsString());
        }

        @Override
        public void onError(Throwable t) {
            end.completeExceptionally(t);
        }

        @Override
        public void onComplete() {
            end.complete(null);
        }
    }

    /** Queues the micro job of the actors' tests (TinyJobs) over the API; its id. */
    static String submit(HttpClient http, String api, Path base, Path out) throws Exception {
        String job = "{\"model\": \"" + base + "\", \"out\": \"" + out + "\", \"ratio\": " + RATIO + ", \"importance\": \"output-mse\", "
                + "\"calib-prompts\": " + PROMPTS + ", \"calib-steps\": 2, \"st-steps\": 3, \"lora-rank\": 4, \"lora-alpha\": 4, \"seed\": 0, \"eval\": false}";
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(api + "/api/v1/jobs")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(job)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(201, r.statusCode(), r.body());
        return JsonParser.parseString(r.body()).getAsJsonObject().get("id").getAsString();
    }

    /** Pauses the job once it runs (its first phase reported); returns when it is paused. {@code sample} runs at each poll. */
    static void pauseOnceRunning(HttpClient http, String api, String id, Sampler sample) throws Exception {
        awaitJob(http, api, id, j -> sampled(sample) && !j.get("phase").getAsString().isEmpty()
                && !j.get("phase").getAsString().equals("starting"));
        assertEquals(200, post(http, api + "/api/v1/jobs/" + id + "/pause").statusCode());
        awaitJob(http, api, id, j -> sampled(sample) && j.get("state").getAsString().equals("paused"));
    }

    interface Sampler {
        void sample() throws Exception;
    }

    private static boolean sampled(Sampler s) {
        try {
            s.sample();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        return true;
    }

    static JsonObject job(HttpClient http, String api, String id) throws Exception {
        return JsonParser.parseString(http.send(HttpRequest.newBuilder(URI.create(api + "/api/v1/jobs/" + id)).build(),
                HttpResponse.BodyHandlers.ofString()).body()).getAsJsonObject();
    }

    static HttpResponse<String> post(HttpClient http, String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).POST(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static void awaitStatus(HttpClient http, String url, int status) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            try {
                if (http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()).statusCode() == status) return;
            } catch (java.io.IOException e) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        fail(url + " did not answer " + status + " within 120 s");
    }

    static JsonObject awaitJob(HttpClient http, String api, String id, java.util.function.Predicate<JsonObject> until) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        JsonObject j = null;
        while (System.nanoTime() < deadline) {
            j = JsonParser.parseString(http.send(HttpRequest.newBuilder(URI.create(api + "/api/v1/jobs/" + id)).build(),
                    HttpResponse.BodyHandlers.ofString()).body()).getAsJsonObject();
            if (until.test(j)) return j;
            assertNotEquals("failed", j.get("state").getAsString(), j.toString());
            Thread.sleep(200);
        }
        fail("job " + id + " did not get there within 5 min: " + j);
        return j;
    }

    private static final Pattern GAUGE = Pattern.compile("(?m)^fastflux_http_sse_clients (\\S+)$");

    static void awaitGauge(HttpClient http, String api, int clients) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        String seen = "";
        while (System.nanoTime() < deadline) {
            String m = http.send(HttpRequest.newBuilder(URI.create(api + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            Matcher g = GAUGE.matcher(m);
            seen = g.find() ? g.group(1) : "absent";
            if (seen.equals(clients + ".0")) return;
            Thread.sleep(200);
        }
        fail("fastflux_http_sse_clients stayed at " + seen + ", expected " + clients);
    }

    /** VmRSS of a process, in kB. */
    static long rssKb(long pid) throws Exception {
        for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (l.startsWith("VmRSS:")) return Long.parseLong(l.replaceAll("[^0-9]", ""));
        }
        throw new IllegalStateException("no VmRSS for " + pid);
    }
}
