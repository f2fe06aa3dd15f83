package fastflux.http;

import static org.junit.jupiter.api.Assertions.*;

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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.typed.ActorSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The dashboard in a real browser (headless Chromium through WebDriver) against a daemon node with its HTTP API
 * running a micro job. Gates in the job's shard hold it where the test looks (at its first phase, twice inside the
 * first block's sandwich training, then at the second block's fit, after that sandwich is trained and
 * checkpointed), so that every check waits for a condition and none depends on how fast the machine is. A second job then runs to its end, and the page
 * shows its report.
 */
class DashboardBrowserTest {
    private static final String TOKEN = "dashboard-test-token";
    private static final Duration WAIT = Duration.ofMinutes(3);

    /** Holds the shard's thread the first time it passes, until the test releases it. */
    private static final class Gate {
        final CountDownLatch arrived = new CountDownLatch(1);
        final CountDownLatch released = new CountDownLatch(1);

        void pass() {
            arrived.countDown();
            try {
                // bounded, so that a failed test never leaves the job's thread behind
                released.await(5, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        void awaitArrival(String what) throws InterruptedException {
            assertTrue(arrived.await(WAIT.toSeconds(), TimeUnit.SECONDS), "the job did not reach " + what);
        }
    }

    @Test
    void thePageFollowsARunningJobCancelsItAndShowsAFinishedJobsReport(@TempDir Path tmp) throws Exception {
        HeadlessChromium.requireInstalled(); // before anything starts: a missing browser fails at once
        Gate first = new Gate();
        Gate secondBlock = new Gate();
        // two gates inside the first sandwich's training: after its step EARLY and after its step LATE
        Gate early = new Gate();
        Gate late = new Gate();
        AtomicReference<String> trained = new AtomicReference<>();
        DeviceShard.FailureInjector gates = new DeviceShard.FailureInjector() {
            @Override
            public void check(String phase, int completed) {
                if (phase.equals("importance")) first.pass();
                if (phase.equals("collect") && completed == 1) secondBlock.pass();
            }

            @Override
            public void sandwichStep(String block, int step) {
                if (step == EARLY && trained.compareAndSet(null, block)) early.pass();
                if (step == LATE && block.equals(trained.get())) late.pass();
            }
        };
        Path base = TinyJobs.baseModel(tmp.resolve("base"));
        Path out = tmp.resolve("out");
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(TOKEN.getBytes(StandardCharsets.UTF_8)));
        Config c = Daemon.config(null, ConfigFactory.parseString("pekko.actor.provider = local\n"
                + "pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off\n"
                + "fastflux.daemon.state-dir = \"" + tmp.resolve("state") + "\"\n"
                + "fastflux.daemon.allowed-roots = [\"" + tmp + "\"]\n"
                + "fastflux.http { port = 0, require-auth = on, tokens = [{name = dashboard, role = control, sha256 = \"" + sha + "\"}] }\n"));
        ActorSystem<NodeSupervisor.Command> system =
                ActorSystem.create(NodeSupervisor.create(Daemon.settings(c, gates)), Daemon.SYSTEM, c);
        ChromeDriver browser = null;
        try {
            HttpServer http = HttpServer.start(system, c);
            String url = http.url();
            String id = submit(url, base, out);

            browser = HeadlessChromium.start(1100, 1300);
            WebDriverWait wait = new WebDriverWait(browser, WAIT, Duration.ofMillis(200));
            browser.get(url);
            // Without a token the API refuses the page's requests, and the page says so.
            wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("connection"), "401"));
            browser.findElement(By.id("token")).sendKeys(TOKEN);
            browser.findElement(By.id("token-save")).click();

            // The page lists the job and follows it.
            wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("#jobs tr[data-job='" + id + "']")));
            first.awaitArrival("its first phase");
            wait.until(ExpectedConditions.textToBe(By.id("phase"), "importance"));
            assertEquals("0", points(browser), "no sandwich is trained before the blocks are scored");
            first.released.countDown();

            // The phase text changes as the job moves on.
            wait.until(d -> !text(d, "phase").equals("importance") && !text(d, "phase").equals("–"));

            // While the first sandwich trains, its curve grows step by step: held after step EARLY, the page shows
            // its steps 0..EARLY; held after step LATE of the same training, steps 0..LATE, still short of its end.
            early.awaitArrival("step " + EARLY + " of its first sandwich training");
            String block = trained.get();
            wait.until(d -> trainPoints(d, block) == EARLY + 1);
            assertEquals(ST_STEPS, Integer.parseInt(chartAttribute(browser, block, "data-steps")));
            assertTrue(liveInHistory(url, id, block), "the block's training is running, not yet in a checkpoint");
            early.released.countDown();
            late.awaitArrival("step " + LATE + " of the same sandwich training");
            wait.until(d -> trainPoints(d, block) == LATE + 1);
            assertTrue(LATE + 1 < ST_STEPS && liveInHistory(url, id, block), "the same training, not yet ended");
            wait.until(ExpectedConditions.textToBe(By.id("block"), block));
            Files.write(Path.of("target/dashboard-training.png"), browser.getScreenshotAs(OutputType.BYTES));
            late.released.countDown();

            // The first block's loss curve is complete once the second block is fitted.
            secondBlock.awaitArrival("its second block");
            wait.until(d -> trainPoints(d, block) == ST_STEPS);
            wait.until(d -> Integer.parseInt(points(d)) > 0);
            wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("#importance img")));
            assertTrue(browser.findElements(By.cssSelector("#loss-charts svg.loss-chart polyline.train")).size() >= 1,
                    "a training-loss line is drawn");
            Files.write(Path.of("target/dashboard-running.png"), browser.getScreenshotAs(OutputType.BYTES));

            // Cancel: the page's click reaches the node, which cancels the job after the phase it holds.
            browser.findElement(By.id("cancel")).click();
            wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("action-message"), "cancel: "));
            secondBlock.released.countDown();
            wait.until(d -> state(url, id).equals("cancelled"));
            wait.until(ExpectedConditions.textToBe(By.id("job-state"), "cancelled"));

            // A job that runs to its end: selected in the list, the page shows its report.
            String done = submit(url, base, tmp.resolve("out-2"));
            // the list is drawn anew every 2 s, so a row found may be replaced before the click: find it again then
            wait.ignoring(StaleElementReferenceException.class).until(d -> {
                d.findElement(By.cssSelector("#jobs tr[data-job='" + done + "']")).click();
                return true;
            });
            wait.until(ExpectedConditions.textToBe(By.id("job-id"), done));
            wait.until(ExpectedConditions.textToBe(By.id("job-state"), "done"));
            wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("report"), "2 of 6 blocks replaced"));
            assertEquals("done", state(url, done));
            wait.until(ExpectedConditions.presenceOfElementLocated(By.cssSelector("#jobs tr[data-job='" + done + "'][data-state='done']")));
            assertEquals("", text(browser, "action-message"), "no request of the page failed");
            assertTrue(browser.manage().getCookies().isEmpty(), "the token is a header, never a cookie");
        } finally {
            first.released.countDown();
            early.released.countDown();
            late.released.countDown();
            secondBlock.released.countDown();
            if (browser != null) {
                try {
                    Files.write(Path.of("target/dashboard-browser-test.png"), browser.getScreenshotAs(OutputType.BYTES));
                } finally {
                    browser.quit();
                }
            }
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
        }
    }

    private static String text(WebDriver d, String id) {
        return d.findElement(By.id(id)).getText();
    }

    /** An attribute of the loss chart of {@code block} (null while the page shows none). */
    private static String chartAttribute(WebDriver d, String block, String attribute) {
        // by script: the charts are drawn anew with each step, so a found element may be gone before it is read
        return (String) ((JavascriptExecutor) d).executeScript("const c = Array.from(document.querySelectorAll("
                + "'#loss-charts svg.loss-chart')).find((e) => e.getAttribute('data-block') === arguments[0]);"
                + " return c ? c.getAttribute(arguments[1]) : null;", block, attribute);
    }

    /** How many training-loss values the chart of {@code block} shows (-1 while it shows none). */
    private static int trainPoints(WebDriver d, String block) {
        String n = chartAttribute(d, block, "data-train");
        return n == null ? -1 : Integer.parseInt(n);
    }

    /** Whether the job's history has {@code block} as the training running now ("live"), not from a checkpoint. */
    private static boolean liveInHistory(String url, String id, String block) throws Exception {
        HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create(url + "api/v1/jobs/" + id + "/history")).GET());
        assertEquals(200, r.statusCode(), r.body());
        for (var e : JsonParser.parseString(r.body()).getAsJsonObject().getAsJsonArray("blocks")) {
            JsonObject b = e.getAsJsonObject();
            if (b.get("block").getAsString().equals(block)) return b.has("live") && b.get("live").getAsBoolean();
        }
        return false;
    }

    /** How many loss values the page's charts show. */
    private static String points(WebDriver d) {
        String n = d.findElement(By.id("loss-charts")).getDomAttribute("data-points");
        return n == null ? "0" : n;
    }

    /** Sandwich steps of the micro job, and the two steps of its first training where the test holds it. */
    private static final int ST_STEPS = 24;
    private static final int EARLY = 3;
    private static final int LATE = 15;

    /** Queues a micro job (two blocks of six; enough sandwich steps that a block's curve is a curve); its id. */
    private static String submit(String url, Path base, Path out) throws Exception {
        String job = "model = \"" + base + "\"\nout = \"" + out + "\"\nratio = 0.34\nimportance = output-mse\n"
                + "calib-prompts = 6\ncalib-steps = 2\nst-steps = " + ST_STEPS + "\nlora-rank = 4\nlora-alpha = 4\nseed = 0\neval = off\n";
        HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create(url + "api/v1/jobs"))
                .header("Content-Type", "application/hocon").POST(HttpRequest.BodyPublishers.ofString(job)));
        assertEquals(201, r.statusCode(), r.body());
        return JsonParser.parseString(r.body()).getAsJsonObject().get("id").getAsString();
    }

    private static final HttpClient CLIENT = HttpClient.newHttpClient();

    private static HttpResponse<String> send(HttpRequest.Builder r) throws Exception {
        return CLIENT.send(r.header("Authorization", "Bearer " + TOKEN).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The job's state as the API reports it. */
    private static String state(String url, String id) {
        try {
            HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create(url + "api/v1/jobs/" + id)).GET());
            assertEquals(200, r.statusCode(), r.body());
            JsonObject o = JsonParser.parseString(r.body()).getAsJsonObject();
            return o.get("state").getAsString();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
