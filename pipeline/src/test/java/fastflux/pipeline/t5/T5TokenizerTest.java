package fastflux.pipeline.t5;

import static org.junit.jupiter.api.Assertions.*;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import fastflux.model.io.SafetensorsReader;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** T5 tokenization against the reference ids of fixtures/flux-pipeline-a. */
class T5TokenizerTest {
    static final Path FIXTURE = Path.of("src/test/resources/fixtures/flux-pipeline-a");
    static final Path DIR = FIXTURE.resolve("diffusers/tokenizer_2");
    static final List<String> PROMPTS = List.of("a red circle left of a blue square", "three yellow triangles");

    @Test
    void idsEqualTheReference() {
        long[] expected;
        try (SafetensorsReader r = SafetensorsReader.open(FIXTURE.resolve("expected.safetensors"))) {
            expected = r.readLongs("t5_ids");
        }
        try (T5Tokenizer t = T5Tokenizer.load(DIR, 32)) {
            long[][] ids = t.encode(PROMPTS);
            assertEquals(32, t.length());
            assertEquals(0, t.padId());
            assertEquals(1, t.eosId());
            for (int b = 0; b < 2; b++) {
                assertArrayEquals(Arrays.copyOfRange(expected, 32 * b, 32 * b + 32), ids[b], "prompt " + b);
            }
        }
    }

    @Test
    void modelMaxLengthCapsTheLength() {
        try (T5Tokenizer t = T5Tokenizer.load(DIR, 512)) {
            assertEquals(32, t.length(), "tokenizer_config.json says model_max_length 32");
            assertEquals(32, t.encode("three yellow triangles").length);
        }
    }

    @Test
    void overlongPromptIsTruncatedWithEosLastAndAWarning() {
        String prompt = String.join(" ", Collections.nCopies(5, "a red circle"));
        Logger logger = (Logger) LoggerFactory.getLogger(T5Tokenizer.class);
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        logger.addAppender(appender);
        try (T5Tokenizer t = T5Tokenizer.load(DIR, 8)) {
            long[] full;
            try (T5Tokenizer wide = T5Tokenizer.load(DIR, 32)) {
                full = wide.encode(prompt);
            }
            assertTrue(appender.list.isEmpty(), "no warning when the prompt fits");
            long[] exact = t.encode("a red circle a red circle a"); // 7 pieces and </s>: fits exactly
            assertArrayEquals(Arrays.copyOf(full, 7), Arrays.copyOf(exact, 7));
            assertEquals(t.eosId(), exact[7]);
            assertTrue(appender.list.isEmpty(), "no warning when the prompt fits exactly");
            long[] ids = t.encode(prompt);
            assertEquals(8, ids.length);
            long[] expected = Arrays.copyOf(full, 8);
            expected[7] = t.eosId();
            assertArrayEquals(expected, ids, "the first 7 pieces, then </s>");
            assertEquals(1, appender.list.size());
            ILoggingEvent warning = appender.list.get(0);
            assertEquals(Level.WARN, warning.getLevel());
            assertTrue(warning.getFormattedMessage().contains("red circle a red circle"), warning.getFormattedMessage());
        } finally {
            logger.detachAppender(appender);
        }
    }
}
