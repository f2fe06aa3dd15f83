package fastflux.http;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.actors.JobSpec;
import fastflux.actors.NodeSupervisor;
import fastflux.actors.Protocol;
import fastflux.actors.TinyJobs;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The API against a node in this JVM: a micro job submitted over HTTP and followed through its event stream to
 * its end, then its detail, history, report and files; the errors (4xx, JSON); and the OpenAPI document against
 * the routes served.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HttpApiTest {
    private Path tmp;
    private ApiNode node;
    private Path base;

    @BeforeAll
    void start() throws Exception {
        tmp = Files.createTempDirectory("fastflux-http-test").toRealPath();
        base = TinyJobs.baseModel(tmp.resolve("base"));
        node = new ApiNode(tmp, "fastflux.http.max-body = 4KiB");
    }

    @AfterAll
    void stop() throws Exception {
        node.close();
        try (Stream<Path> walk = Files.walk(tmp)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }

    /** The micro job of the actors' tests (TinyJobs), as a job file's keys. */
    static String job(Path model, Path out) {
        return "{\"model\": \"" + model + "\", \"out\": \"" + out + "\", \"ratio\": 0.34, \"importance\": \"output-mse\", "
                + "\"calib-prompts\": 6, \"calib-steps\": 2, \"st-steps\": 3, \"lora-rank\": 4, \"lora-alpha\": 4, \"seed\": 0, \"eval\": false}";
    }

    @Test
    void aMicroJobSubmittedFollowedAndRead() throws Exception {
        Path out = tmp.resolve("out");
        HttpResponse<String> r = node.post("/api/v1/jobs", "application/json", job(base, out), null);
        assertEquals(201, r.statusCode(), r.body());
        String id = ApiNode.json(r).get("id").getAsString();

        // The event stream: JSON progress a message at a time, as `watch --json` prints them, to the job's end.
        HttpResponse<Stream<String>> events = node.client.send(HttpRequest.newBuilder(URI.create(node.base() + "/api/v1/jobs/" + id + "/events"))
                .build(), HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, events.statusCode());
        assertEquals("text/event-stream", events.headers().firstValue("Content-Type").orElse(""));
        List<JsonObject> progress = new ArrayList<>();
        try (Stream<String> lines = events.body()) {
            lines.filter(l -> l.startsWith("data:")).forEach(l -> progress.add(JsonParser.parseString(l.substring(5)).getAsJsonObject()));
        }
        assertFalse(progress.isEmpty());
        JsonObject last = progress.get(progress.size() - 1);
        assertEquals("done", last.get("state").getAsString(), progress.toString());
        Set<String> phases = new LinkedHashSet<>();
        long seq = -1;
        for (JsonObject p : progress) {
            assertEquals(id, p.get("job").getAsString());
            assertTrue(p.get("seq").getAsLong() >= seq, "in order: " + progress);
            seq = p.get("seq").getAsLong();
            phases.add(p.get("phase").getAsString());
            Set<String> keys = new java.util.TreeSet<>(p.keySet());
            keys.remove("loss"); // a sandwich step's snapshot (SandwichLossEventsTest)
            assertEquals(new java.util.TreeSet<>(JobJson.progress(new Protocol.Progress(id, fastflux.actors.JobState.RUNNING, "", "", 0, 0,
                    "", 0, 0, 0, p.has("eta_s") ? 1 : Double.NaN, 0)).keySet()), keys, "the fields of watch --json");
        }
        assertTrue(phases.contains("sandwich") && phases.contains("export"), phases.toString());

        JsonObject detail = ApiNode.json(node.get("/api/v1/jobs/" + id, null));
        assertEquals("done", detail.get("state").getAsString());
        assertEquals(0.34, detail.getAsJsonObject("options").get("ratio").getAsDouble());
        assertEquals(out.toString(), detail.get("out").getAsString());
        assertEquals(2, detail.getAsJsonArray("losses").size(), detail.toString());
        assertTrue(detail.getAsJsonArray("losses").get(0).getAsJsonObject().has("final_loss"), detail.toString());
        assertTrue(detail.getAsJsonArray("outputs").toString().contains("report.json"), detail.toString());

        JsonObject fleet = ApiNode.json(node.get("/api/v1/jobs", null));
        JsonArray jobs = fleet.getAsJsonArray("nodes").get(0).getAsJsonObject().getAsJsonArray("jobs");
        assertEquals(id, jobs.get(0).getAsJsonObject().get("id").getAsString());
        assertEquals(0, fleet.getAsJsonArray("unanswered").size());

        JsonObject history = ApiNode.json(node.get("/api/v1/jobs/" + id + "/history", null));
        assertEquals(2, history.getAsJsonArray("blocks").size(), history.toString());
        for (JsonElement b : history.getAsJsonArray("blocks")) {
            assertEquals(3, b.getAsJsonObject().getAsJsonObject("training").getAsJsonArray("losses").size(), "st-steps 3: " + b);
        }
        HttpResponse<String> report = node.get("/api/v1/jobs/" + id + "/report", null);
        assertEquals(200, report.statusCode());
        assertEquals(JsonParser.parseString(Files.readString(out.resolve("report.json"))), JsonParser.parseString(report.body()));

        HttpResponse<byte[]> png = node.client.send(HttpRequest.newBuilder(URI.create(node.base() + "/api/v1/jobs/" + id + "/files/importance.png"))
                .build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, png.statusCode());
        assertArrayEquals(Files.readAllBytes(out.resolve("importance.png")), png.body());

        // Confined to the output directory: no way out, by dots, an absolute path or a symbolic link.
        Files.writeString(tmp.resolve("secret.txt"), "not the job's");
        Files.createSymbolicLink(out.resolve("link.txt"), tmp.resolve("secret.txt"));
        // (a literal or %2E-encoded ".." segment is resolved by the URI parser before routing: it never reaches files/)
        HttpResponse<String> dots = node.get("/api/v1/jobs/" + id + "/files/%2E%2E/secret.txt", null);
        assertEquals(404, dots.statusCode(), dots.body());
        assertFalse(dots.body().contains("not the job's"));
        for (String bad : new String[] {"..%2Fsecret.txt", "%2F" + tmp.toString().substring(1).replace("/", "%2F") + "%2Fsecret.txt",
            "link.txt", "a/..%2F..%2Fsecret.txt"}) {
            HttpResponse<String> refused = node.get("/api/v1/jobs/" + id + "/files/" + bad, null);
            assertEquals(403, refused.statusCode(), bad + ": " + refused.body());
            assertTrue(ApiNode.json(refused).has("error"), refused.body());
            assertFalse(refused.body().contains("not the job's"));
        }
        assertEquals(404, node.get("/api/v1/jobs/" + id + "/files/none.png", null).statusCode());
        assertEquals(404, node.get("/api/v1/jobs/job-0999/report", null).statusCode());

        // A done job cannot be paused: the node's refusal, as JSON with 409.
        r = node.post("/api/v1/jobs/" + id + "/pause", null, "", null);
        assertEquals(409, r.statusCode(), r.body());
        assertEquals(id + " is done: only a queued or running job can be paused", ApiNode.json(r).get("error").getAsString());
    }

    @Test
    void submitHasTheValidationAndErrorsOfTheNode() throws Exception {
        // HOCON by content type, with an out-of-range value: named with its line, as in a job file.
        HttpResponse<String> r = node.post("/api/v1/jobs", "application/hocon", "model = \"" + base + "\"\nout = \"" + tmp.resolve("o2")
                + "\"\nratio = 1.5\n", null);
        assertEquals(400, r.statusCode(), r.body());
        assertEquals("request body: 3: ratio must be a fraction in (0, 1), got 1.5", ApiNode.json(r).get("error").getAsString());
        r = node.post("/api/v1/jobs", "application/json", "{\"model\": \"" + base + "\", \"out\": \"o\", \"ratio\": 0.2}", null);
        assertEquals(400, r.statusCode());
        assertTrue(ApiNode.json(r).get("error").getAsString().contains("out = o is relative"), r.body());
        r = node.post("/api/v1/jobs", "application/json", "{\"model\": \"" + base + "\", \"out\": \"/tmp\", \"ratoi\": 0.2}", null);
        assertEquals(400, r.statusCode());
        assertTrue(ApiNode.json(r).get("error").getAsString().contains("unknown key(s) 'ratoi' (did you mean ratio?)"), r.body());
        // Outside the allowed roots: the very reply the node gives `fastflux submit`.
        Path outside = Path.of("/var/tmp/fastflux-http-test-never");
        JobSpec spec = JobSpec.of(base, outside, 0.2);
        Protocol.Reply expected = AskPattern.<NodeSupervisor.Command, Protocol.Reply>ask(node.system,
                rr -> new NodeSupervisor.Place(spec, rr), Duration.ofSeconds(20), node.system.scheduler()).toCompletableFuture().get();
        assertFalse(expected.ok());
        r = node.post("/api/v1/jobs", "application/json", "{\"model\": \"" + base + "\", \"out\": \"" + outside + "\", \"ratio\": 0.2}", null);
        assertEquals(400, r.statusCode());
        assertEquals(expected.message(), ApiNode.json(r).get("error").getAsString());
        assertFalse(Files.exists(outside));
    }

    @Test
    void aJobItsPlanCannotFitIsRefusedWith422AndThePlansText() throws Exception {
        Path out = tmp.resolve("too-big");
        String body = job(base, out).replace("\"eval\": false}", "\"eval\": false, \"memory-limit\": \"1M\"}");
        HttpResponse<String> r = node.post("/api/v1/jobs", "application/json", body, null);
        assertEquals(422, r.statusCode(), r.body());
        String error = ApiNode.json(r).get("error").getAsString();
        assertTrue(error.startsWith("this job cannot fit: phase ") && error.contains(" on cpu, which has 1.0 MiB (--memory-limit)"), error);
        try (var written = Files.exists(out) ? Files.walk(out) : java.util.stream.Stream.<Path>empty()) {
            assertTrue(written.noneMatch(Files::isRegularFile), "no work started in " + out);
        }
    }

    @Test
    void malformedOversizedAndUnknownRequestsGetAJsonError() throws Exception {
        String before = node.get("/api/v1/jobs", null).body();
        record Case(String method, String path, String type, String body, int status, String says) {}
        List<Case> cases = List.of(
                new Case("POST", "/api/v1/jobs", "application/json", "{\"model\": ", 400, "request body"),
                new Case("POST", "/api/v1/jobs", "application/json", "[1, 2]", 400, "request body"),
                new Case("POST", "/api/v1/jobs", "application/json", "{\"ratio\": 0.2, \"x\": \"" + "y".repeat(8000) + "\"}", 413, "max-body"),
                new Case("POST", "/api/v1/jobs", "image/png", "abc", 415, "application/json"),
                new Case("GET", "/api/v2/jobs", null, null, 404, "could not be found"),
                new Case("GET", "/api/v1/jobs/job-0001/nothing", null, null, 404, "no route"),
                new Case("GET", "/api/v1/jobs/job-0001/pause", null, null, 405, "method not allowed"),
                new Case("DELETE", "/api/v1/jobs", null, null, 405, "method not allowed"),
                new Case("POST", "/api/v1/jobs/job-0001/explode", null, "", 404, "pause, resume or cancel"),
                new Case("GET", "/api/v1/jobs/job-0999", null, null, 404, "no job job-0999"),
                new Case("GET", "/api/v1/jobs/job-0999/events", null, null, 404, "no job job-0999"),
                new Case("POST", "/api/v1/jobs/job-0999/resume", null, "", 404, "no job job-0999"));
        for (Case c : cases) {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(node.base() + c.path()))
                    .method(c.method(), c.body() == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(c.body()));
            if (c.type() != null) b.header("Content-Type", c.type());
            // The server closes a connection whose body it refused unread: that request gets a client of its own.
            HttpResponse<String> r = c.status() == 413
                    ? java.net.http.HttpClient.newBuilder().version(java.net.http.HttpClient.Version.HTTP_1_1).build()
                            .send(b.build(), HttpResponse.BodyHandlers.ofString())
                    : node.send(b, null);
            assertEquals(c.status(), r.statusCode(), c + ": " + r.body());
            assertEquals("application/json", r.headers().firstValue("Content-Type").orElse(""), c.toString());
            String error = ApiNode.json(r).get("error").getAsString();
            assertTrue(error.toLowerCase().contains(c.says().toLowerCase()), c + ": " + error);
        }
        String after = node.get("/api/v1/jobs", null).body();
        assertEquals(JsonParser.parseString(before).getAsJsonObject().getAsJsonArray("nodes").get(0).getAsJsonObject().getAsJsonArray("jobs").size(),
                JsonParser.parseString(after).getAsJsonObject().getAsJsonArray("nodes").get(0).getAsJsonObject().getAsJsonArray("jobs").size(),
                "no request queued a job");
    }

    @Test
    void theOpenApiDocumentListsEveryRouteServedAndEachIsServed() throws Exception {
        JsonObject doc;
        try (InputStream in = HttpApi.class.getClassLoader().getResourceAsStream(HttpApi.OPENAPI)) {
            doc = JsonParser.parseString(new String(in.readAllBytes(), StandardCharsets.UTF_8)).getAsJsonObject();
        }
        assertEquals(doc, ApiNode.json(node.get("/api/v1/openapi.json", null)), "served as it is in the jar");
        assertTrue(doc.get("openapi").getAsString().startsWith("3."));
        Set<String> documented = new LinkedHashSet<>();
        for (String path : doc.getAsJsonObject("paths").keySet()) {
            for (String method : doc.getAsJsonObject("paths").getAsJsonObject(path).keySet()) documented.add(method.toUpperCase() + " " + path);
        }
        assertEquals(new LinkedHashSet<>(HttpApi.ROUTES), documented, "HttpApi.ROUTES and openapi.json");
        for (String route : documented) {
            String method = route.substring(0, route.indexOf(' '));
            String path = route.substring(route.indexOf(' ') + 1).replace("{id}", "job-0999").replace("{path}", "report.json")
                    .replace("{file}", "index.html");
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(node.base() + path))
                    .method(method, method.equals("POST") ? HttpRequest.BodyPublishers.ofString("{}") : HttpRequest.BodyPublishers.noBody());
            if (method.equals("POST")) b.header("Content-Type", "application/json");
            HttpResponse<String> r = node.send(b, null);
            assertNotEquals(405, r.statusCode(), route + ": " + r.body());
            assertFalse(r.body().contains("The requested resource could not be found"), route + " is served: " + r.body());
        }
        HttpResponse<String> metrics = node.get("/metrics", null);
        assertTrue(metrics.body().contains("fastflux_http_sse_clients"), metrics.body());
        assertTrue(metrics.body().contains("fastflux_http_requests_total{method=\"GET\""), metrics.body());
        assertTrue(metrics.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
        assertTrue(node.get("/", null).body().contains("<html"));
        assertEquals(200, node.get("/ready", null).statusCode());
    }
}
