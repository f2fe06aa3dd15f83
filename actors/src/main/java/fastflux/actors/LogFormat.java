package fastflux.actors;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.JsonEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.OutputStreamAppender;
import ch.qos.logback.core.encoder.Encoder;
import ch.qos.logback.core.spi.AppenderAttachable;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;

/**
 * How log lines are written: {@code text} (the configured patterns, the default) or {@code json}, one JSON object
 * a line from Logback's own {@link JsonEncoder}, with the MDC (a job's {@code jobId} and {@code phase}) under
 * {@code mdc}. JSON swaps the encoder of every appender the Logback configuration made (console, file, behind an
 * async appender too), so the same configuration file serves both; text puts the configured encoders back.
 * docs/daemon.md, "Logs".
 */
public final class LogFormat {
    public static final String TEXT = "text";
    public static final String JSON = "json";

    /** The configured encoder of each appender switched to JSON, to put back for text. */
    private static final Map<OutputStreamAppender<ILoggingEvent>, Encoder<ILoggingEvent>> CONFIGURED = new IdentityHashMap<>();

    private LogFormat() {}

    /**
     * The format {@code name} names (case and spaces aside).
     *
     * @throws IllegalArgumentException naming the format and the known ones
     */
    public static String parse(String name) {
        String f = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        if (!f.equals(TEXT) && !f.equals(JSON)) {
            throw new IllegalArgumentException("unknown log format '" + name + "' (known: " + TEXT + ", " + JSON + ")");
        }
        return f;
    }

    /**
     * Writes every log line from now on in {@code format}, text or json.
     *
     * @throws IllegalArgumentException naming the format and the known ones
     */
    public static synchronized void use(String format) {
        String f = parse(format);
        if (!(org.slf4j.LoggerFactory.getILoggerFactory() instanceof LoggerContext ctx)) return; // not Logback: its own format
        if (f.equals(TEXT)) {
            CONFIGURED.forEach(OutputStreamAppender::setEncoder);
            CONFIGURED.clear();
            return;
        }
        for (Logger l : ctx.getLoggerList()) {
            for (Iterator<Appender<ILoggingEvent>> it = l.iteratorForAppenders(); it.hasNext(); ) toJson(it.next(), ctx);
        }
    }

    /** The encoder of every log line (Logback's JsonEncoder): the formatted message, no arguments or context. */
    public static JsonEncoder jsonEncoder(LoggerContext ctx) {
        JsonEncoder e = new JsonEncoder();
        e.setContext(ctx);
        e.setWithFormattedMessage(true);
        e.setWithMessage(false);
        e.setWithArguments(false);
        e.setWithContext(false);
        e.setWithNanoseconds(false);
        e.setWithSequenceNumber(false);
        e.start();
        return e;
    }

    @SuppressWarnings("unchecked")
    private static void toJson(Appender<ILoggingEvent> a, LoggerContext ctx) {
        if (a instanceof AppenderAttachable<?> nested) { // an async appender: the ones it feeds write the lines
            for (Iterator<Appender<ILoggingEvent>> it = ((AppenderAttachable<ILoggingEvent>) nested).iteratorForAppenders(); it.hasNext(); ) {
                toJson(it.next(), ctx);
            }
        }
        if (a instanceof OutputStreamAppender<ILoggingEvent> out && !(out.getEncoder() instanceof JsonEncoder)) {
            CONFIGURED.put(out, out.getEncoder());
            // set while the appender runs: encode() reads the field per event, and no header is due mid-stream
            out.setEncoder(jsonEncoder(ctx));
        }
    }
}
