package fastflux.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/** {@code --log-format}: on every command, json switches the log lines to JSON, text (the default) back. */
class LogFormatOptionTest {
    @AfterEach
    void backToText() {
        Main.commandLine().parseArgs("status");
    }

    /** What one log line with a job context looks like after parsing {@code argv}. */
    static String logLineAfter(String... argv) {
        Main.commandLine().parseArgs(argv);
        PrintStream err = System.err;
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        System.setErr(new PrintStream(e, true));
        try {
            MDC.put("jobId", "job-0007");
            LoggerFactory.getLogger("fastflux.cli.test").info("phase {} of {}", "fit", "job-0007");
        } finally {
            MDC.remove("jobId");
            System.setErr(err);
        }
        return e.toString(StandardCharsets.UTF_8).strip();
    }

    @Test
    void jsonOnTheDaemonPruneAndBeforeTheCommandWritesJsonLinesWithTheMdc() {
        String[][] argvs = {
            {"daemon", "--log-format", "json"},
            {"prune", "--log-format", "json", "--ratio", "0.2", "--out", "/tmp/never"},
            {"--log-format", "json", "status"},
            {"daemon", "--log-format", "JSON"},
        };
        for (String[] argv : argvs) {
            String line = logLineAfter(argv);
            JsonObject o = JsonParser.parseString(line).getAsJsonObject();
            assertEquals("phase fit of job-0007", o.get("formattedMessage").getAsString(), line);
            assertEquals("INFO", o.get("level").getAsString());
            assertEquals("job-0007", o.getAsJsonObject("mdc").get("jobId").getAsString(), line);
            backToText();
        }
    }

    @Test
    void textIsTheDefault() {
        logLineAfter("daemon", "--log-format", "json");
        String line = logLineAfter("daemon");
        assertFalse(line.startsWith("{"), line);
        assertTrue(line.endsWith("phase fit of job-0007"), line);
        assertTrue(logLineAfter("prune", "--log-format", "text", "--ratio", "0.2", "--out", "/tmp/never").endsWith("phase fit of job-0007"));
    }

    @Test
    void anUnknownFormatIsAUsageError() {
        MainTest.Outcome r = MainTest.run("daemon", "--log-format", "yaml");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains("unknown log format 'yaml' (known: text, json)"), r.err());
        assertTrue(MainTest.run("prune", "--help").out().contains("--log-format=FORMAT"));
        assertTrue(MainTest.run("daemon", "--help").out().contains("--log-format=FORMAT"));
    }
}
