package fastflux.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.OutputStreamAppender;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import fastflux.pruning.LogContext;
import fastflux.pruning.PruneOptions;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One micro job on a node, as the daemon runs it, with a Prometheus registry in Micrometer's global registry (as the
 * HTTP module's {@code /metrics} has) and every log line in JSON: the scrapes show the job's figures, every line of
 * the job's work names its job and phase, and every metric the alert rules of docs/metrics.md use exists.
 */
class MetricsAndLogsTest {
    @TempDir
    static Path tmp;

    static final int ST_STEPS = 3;
    static ActorTestKit kit;
    static PrometheusMeterRegistry prometheus;
    static OutputStreamAppender<ILoggingEvent> capture;
    static final ByteArrayOutputStream LOG = new ByteArrayOutputStream();
    static String jobId;
    static Protocol.Progress last;
    static String before;
    static String after;
    static final List<String> whileRunning = Collections.synchronizedList(new ArrayList<>());

    @BeforeAll
    static void runAMicroJob() throws java.io.IOException {
        prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Metrics.globalRegistry.add(prometheus);
        DaemonMetrics.bind(tmp.resolve("node"));
        DaemonMetrics.bind(tmp.resolve("node")); // idempotent: nothing registered twice, nothing thrown

        LoggerContext ctx = (LoggerContext) org.slf4j.LoggerFactory.getILoggerFactory();
        PatternLayoutEncoder text = new PatternLayoutEncoder();
        text.setContext(ctx);
        text.setPattern("%-5level %logger - %msg%n");
        text.start();
        capture = new OutputStreamAppender<>();
        capture.setContext(ctx);
        capture.setName("capture");
        capture.setEncoder(text);
        capture.setOutputStream(LOG);
        capture.start();
        ctx.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).addAppender(capture);
        LogFormat.use("json");

        kit = ActorTestKit.create("metrics-test", com.typesafe.config.ConfigFactory.parseString("pekko.actor.provider = local")
                .withFallback(com.typesafe.config.ConfigFactory.load()));
        before = prometheus.scrape();
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        ActorRef<NodeSupervisor.Command> node = kit.spawn(NodeSupervisor.create(new NodeSupervisor.Settings(tmp.resolve("node"), 4, 3,
                Duration.ofMinutes(1), "fastflux.daemon.shard-dispatcher", DeviceShard.FailureInjector.NONE)));
        // a small pair buffer, so that the sandwich's pairs spill to disk too
        JobSpec spec = TinyJobs.spec(base, tmp.resolve("out")).with(PruneOptions.BUFFER_BYTES, 32L << 10)
                .with(PruneOptions.ST_STEPS, ST_STEPS);
        TestProbe<Protocol.Reply> replies = kit.createTestProbe();
        node.tell(new NodeSupervisor.Submit(spec, replies.getRef()));
        Protocol.Reply r = replies.receiveMessage();
        assertTrue(r.ok(), r.message());
        jobId = r.jobId();
        TestProbe<Protocol.WatchEvent> watcher = kit.createTestProbe();
        node.tell(new NodeSupervisor.Watch(jobId, watcher.getRef(), replies.getRef()));
        assertTrue(replies.receiveMessage().ok());
        while (true) {
            Protocol.WatchEvent e = watcher.receiveMessage(Duration.ofMinutes(3));
            if (e.progress().terminal()) {
                last = e.progress();
                break;
            }
            if (e.progress().state() == JobState.RUNNING) whileRunning.add(prometheus.scrape());
            e.ackTo().tell(new WatcherRelay.Ack());
        }
        after = prometheus.scrape();
        kit.stop(node);
        // for a reader (docs/metrics.md quotes one): the last scrape while running, the one after, the log lines
        Path dir = Path.of("target", "metrics-and-logs");
        Files.createDirectories(dir);
        if (!whileRunning.isEmpty()) Files.writeString(dir.resolve("scrape-running.txt"), whileRunning.get(whileRunning.size() - 1));
        Files.writeString(dir.resolve("scrape-after.txt"), after);
        Files.write(dir.resolve("log.jsonl"), LOG.toByteArray());
    }

    @AfterAll
    static void removeTheRegistryAndTheCapture() {
        if (kit != null) kit.shutdownTestKit();
        LogFormat.use("text");
        LoggerContext ctx = (LoggerContext) org.slf4j.LoggerFactory.getILoggerFactory();
        ctx.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).detachAppender(capture);
        Metrics.globalRegistry.remove(prometheus);
        prometheus.close();
    }

    // ---------------------------------------------------------------- the scrape text

    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[^}]*\\})? (\\S+)$");

    /** The samples of a scrape: "name{labels}" to value, labels as the text has them. */
    static Map<String, Double> samples(String scrape) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String line : scrape.split("\n")) {
            Matcher m = SAMPLE.matcher(line);
            if (!line.startsWith("#") && m.matches()) out.put(m.group(1) + (m.group(2) == null ? "" : m.group(2)), Double.parseDouble(m.group(3)));
        }
        return out;
    }

    /** The value of the one sample of {@code name} with every label of {@code labels} ("k=\"v\""), or null. */
    static Double value(String scrape, String name, String... labels) {
        Double found = null;
        for (Map.Entry<String, Double> e : samples(scrape).entrySet()) {
            String k = e.getKey();
            if (!(k.equals(name) || k.startsWith(name + "{"))) continue;
            boolean all = true;
            for (String l : labels) all &= k.contains(l);
            if (!all) continue;
            if (found != null) throw new AssertionError("two samples of " + name + " " + List.of(labels) + " in the scrape");
            found = e.getValue();
        }
        return found;
    }

    static double delta(String name, String... labels) {
        Double a = value(after, name, labels);
        Double b = value(before, name, labels);
        assertNotNull(a, name + " " + List.of(labels) + " is not in the scrape after the job:\n" + after);
        return a - (b == null ? 0 : b);
    }

    static String job() {
        return "job_id=\"" + jobId + "\"";
    }

    @Test
    void theJobEndsDone() {
        assertEquals(JobState.DONE, last.state(), last.detail());
    }

    @Test
    void theJobsByStateCountTheJobAndItsEnding() {
        assertEquals(1, delta("fastflux_jobs", "state=\"done\""));
        assertEquals(1, delta("fastflux_jobs_ended_total", "state=\"done\""));
        assertEquals(0, delta("fastflux_jobs_ended_total", "state=\"failed\""));
        for (String s : new String[] {"queued", "running", "paused", "failed", "cancelled"}) {
            assertNotNull(value(after, "fastflux_jobs", "state=\"" + s + "\""), s);
        }
        assertTrue(whileRunning.stream().anyMatch(s -> value(s, "fastflux_jobs", "state=\"running\"") >= 1),
                "a scrape while the job ran counts a running job");
    }

    @Test
    void theRunningJobsPhaseBlocksAndEtaAreGaugesTaggedWithItsIdThatGoWhenItEnds() {
        assertFalse(whileRunning.isEmpty(), "no scrape while the job ran");
        boolean reachedTarget = false;
        Set<String> phases = new TreeSet<>();
        for (String s : whileRunning) {
            Double done = value(s, "fastflux_job_blocks_done", job());
            Double target = value(s, "fastflux_job_blocks_target", job());
            if (done == null) continue; // before the job's first progress report
            assertEquals(2, target, "2 of the tiny model's 6 blocks at ratio 0.34");
            reachedTarget |= done.equals(target);
            assertNotNull(value(s, "fastflux_job_eta_seconds", job()));
            assertTrue(value(s, "fastflux_job_progress_timestamp_seconds", job()) > 1.6e9, "a Unix time");
            for (String k : samples(s).keySet()) {
                if (k.startsWith("fastflux_job_phase{") && k.contains(job())) phases.add(k.replaceAll(".*phase=\"([^\"]*)\".*", "$1"));
            }
        }
        assertTrue(reachedTarget, "blocks done reached the target while the job ran");
        assertFalse(phases.isEmpty(), "a phase gauge while the job ran");
        assertTrue(Set.of("importance", "fit", "collect", "checkpoint", "sandwich", "export", "report", "speed", "fidelity")
                .containsAll(phases), phases.toString());
        assertNull(value(after, "fastflux_job_blocks_done", job()), "the job's gauges end with it");
        assertFalse(after.contains("fastflux_job_phase{"), after);
    }

    private static void assertNull(Object o, String message) {
        assertTrue(o == null, message);
    }

    @Test
    void checkpointWritesCalibrationItemsAndTheSandwichAreCounted() {
        double writes = delta("fastflux_checkpoint_write_seconds_count", "store=\"state\"");
        // per block: the fit, the sandwich; the importance order once
        assertTrue(writes >= 5, "state checkpoints written: " + writes);
        assertTrue(delta("fastflux_checkpoint_write_seconds_sum", "store=\"state\"") > 0, "their duration");
        assertTrue(delta("fastflux_checkpoint_write_seconds_count", "store=\"stage\"") >= 2, "a stage per block");
        assertTrue(delta("fastflux_calibration_items_total") > 0, "calibration items");
        assertEquals(2 * ST_STEPS, delta("fastflux_sandwich_steps_total"), "two sandwiches of " + ST_STEPS + " steps");
        double stepLoss = value(after, "fastflux_sandwich_step_loss");
        double finalLoss = value(after, "fastflux_sandwich_final_loss");
        assertTrue(stepLoss >= 0 && Double.isFinite(stepLoss), "step loss " + stepLoss);
        assertTrue(finalLoss >= 0 && Double.isFinite(finalLoss), "final loss " + finalLoss);
        assertTrue(delta("fastflux_sandwich_pairs_recorded_total", "location=\"disk\"") > 0, "pairs spilled past the 32 KiB buffer");
        assertEquals(0, value(after, "fastflux_sandwich_pairs", "location=\"memory\""), "every pair buffer closed");
        assertEquals(0, value(after, "fastflux_sandwich_pairs_size_bytes", "location=\"disk\""), "every spill file deleted");
    }

    @Test
    void theJvmTheProcessAndTheDevicesAreReported() {
        assertTrue(samples(after).keySet().stream().anyMatch(k -> k.startsWith("jvm_memory_used_bytes{") && k.contains("area=\"heap\"")),
                "the Java heap");
        assertNotNull(value(after, "jvm_buffer_memory_used_bytes", "id=\"direct\""), "direct buffers (the sandwich pairs)");
        assertTrue(value(after, "process_resident_memory_bytes") > 16e6, "resident memory from /proc/self/status");
        assertTrue(value(after, "process_resident_memory_max_bytes") >= value(after, "process_resident_memory_bytes") * 0.5);
        assertTrue(value(after, "fastflux_memory_limit_bytes") > 0);
        assertNotNull(value(after, "disk_free_bytes"), "free space where the state directory is");
        boolean gpus = ai.djl.engine.Engine.getInstance().getGpuCount() > 0 && ai.djl.util.cuda.CudaUtils.hasCuda();
        assertEquals(gpus, after.contains("fastflux_device_memory_used_bytes{"), "device memory exactly when the engine uses GPUs");
    }

    // ---------------------------------------------------------------- the log lines

    /** The loggers of a job's work: its coordinator and shard, the method, the pipeline, the checkpoints, the model. */
    static boolean jobWork(String logger) {
        return logger.equals(PruningCoordinator.class.getName()) || logger.equals(DeviceShard.class.getName())
                || logger.startsWith("fastflux.pruning.") || logger.startsWith("fastflux.streams.")
                || logger.startsWith("fastflux.checkpoints.") || logger.startsWith("fastflux.model.");
    }

    @Test
    void everyLogLineIsJsonAndEveryLineOfTheJobsWorkHasItsIdAndPhase() {
        List<String> lines = LOG.toString(StandardCharsets.UTF_8).lines().toList();
        int work = 0;
        int nodeLines = 0;
        Set<String> phases = new TreeSet<>();
        Set<String> threads = new TreeSet<>();
        for (String line : lines) {
            JsonObject o;
            try {
                o = JsonParser.parseString(line).getAsJsonObject();
            } catch (RuntimeException e) {
                throw new AssertionError("not a JSON object: " + line, e);
            }
            assertTrue(o.has("level") && o.has("loggerName") && o.has("formattedMessage"), line);
            if (o.get("loggerName").getAsString().equals(NodeSupervisor.class.getName())
                    && o.get("formattedMessage").getAsString().startsWith(jobId + " ")) { // queued, starting, done: the node's lines on the job
                assertEquals(jobId, o.getAsJsonObject("mdc").get(LogContext.JOB_ID).getAsString(), line);
                nodeLines++;
            }
            if (!jobWork(o.get("loggerName").getAsString())) continue;
            work++;
            JsonObject mdc = o.has("mdc") && o.get("mdc").isJsonObject() ? o.getAsJsonObject("mdc") : new JsonObject();
            assertTrue(mdc.has(LogContext.JOB_ID) && mdc.get(LogContext.JOB_ID).getAsString().equals(jobId), "no job id: " + line);
            assertTrue(mdc.has(LogContext.PHASE) && !mdc.get(LogContext.PHASE).getAsString().isEmpty(), "no phase: " + line);
            phases.add(mdc.get(LogContext.PHASE).getAsString());
            threads.add(o.get("threadName").getAsString());
        }
        assertTrue(work >= 8, work + " lines of the job's work in\n" + String.join("\n", lines));
        assertTrue(phases.containsAll(Set.of("start", "importance", "fit", "sandwich", "export", "report")), phases.toString());
        assertTrue(threads.size() >= 2, "the coordinator's and the shard's threads: " + threads);
        assertEquals(3, nodeLines, "the node's lines on the job: queued, starting, done");
    }

    // ---------------------------------------------------------------- docs/metrics.md

    static Path docs(String name) {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("docs").resolve(name))) return p.resolve("docs").resolve(name);
        }
        throw new AssertionError("docs/" + name + " not found above " + Path.of("").toAbsolutePath());
    }

    /** Every metric name (not a PromQL function or label) an expression uses, from node_exporter's (node_*) aside. */
    static Set<String> metricNames(String expr) {
        Set<String> out = new TreeSet<>();
        String noStrings = expr.replaceAll("\"[^\"]*\"", "\"\"").replaceAll("\\{[^}]*\\}", "{}").replaceAll("\\[[^]]*\\]", "[]");
        Matcher m = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*").matcher(noStrings);
        while (m.find()) {
            String n = m.group();
            if (n.startsWith("fastflux_") || n.startsWith("process_") || n.startsWith("jvm_") || n.startsWith("disk_")) out.add(n);
        }
        return out;
    }

    @Test
    @SuppressWarnings("unchecked")
    void everyMetricTheDocumentedAlertRulesUseExistsAndEveryFastfluxMetricIsDocumented() throws Exception {
        String doc = Files.readString(docs("metrics.md"));
        Matcher block = Pattern.compile("```yaml\n(.*?)```", Pattern.DOTALL).matcher(doc);
        assertTrue(block.find(), "docs/metrics.md has no ```yaml block of alert rules");
        Map<String, Object> rules = new org.yaml.snakeyaml.Yaml().load(block.group(1));
        Set<String> seen = new TreeSet<>();
        whileRunning.forEach(s -> seen.addAll(names(s)));
        seen.addAll(names(after));
        List<String> alerts = new ArrayList<>();
        for (Map<String, Object> group : (List<Map<String, Object>>) rules.get("groups")) {
            for (Map<String, Object> rule : (List<Map<String, Object>>) group.get("rules")) {
                String expr = String.valueOf(rule.get("expr"));
                alerts.add(String.valueOf(rule.get("alert")));
                for (String n : metricNames(expr)) assertTrue(seen.contains(n), "alert " + rule.get("alert") + " uses " + n + ", which no scrape has");
            }
        }
        assertTrue(alerts.containsAll(List.of("FastfluxJobFailed", "FastfluxJobNoProgress", "FastfluxDiskNearlyFull", "FastfluxMemoryNearLimit")),
                alerts.toString());
        for (String n : seen) {
            String family = n.replaceAll("_(count|sum|max)$", "");
            if (n.startsWith("fastflux_")) assertTrue(doc.contains(family), n + " is not in docs/metrics.md");
        }
    }

    /** The sample names of a scrape. */
    static Set<String> names(String scrape) {
        Set<String> out = new TreeSet<>();
        for (String k : samples(scrape).keySet()) out.add(k.replaceAll("\\{.*", ""));
        return out;
    }
}
