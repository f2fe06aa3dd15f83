package fastflux.pipeline.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Samples {@code /proc/self/status} every few milliseconds on a daemon thread and keeps the peaks of
 * {@code RssAnon} and {@code RssFile}, overall and for the stage named by {@link #stage}: the kernel's
 * {@code VmHWM} keeps only the peak of their sum.
 */
public final class RssSampler implements AutoCloseable {
    private static final Path STATUS = Path.of("/proc/self/status");

    private final Thread thread;
    private volatile boolean running = true;
    private volatile String stage = "start";
    private final java.util.Map<String, long[]> stagePeaks = new java.util.LinkedHashMap<>();
    private long peakAnonKb;
    private long peakFileKb;

    public RssSampler(long periodMs) {
        thread = new Thread(() -> {
            while (running) {
                sample();
                try {
                    Thread.sleep(periodMs);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "rss-sampler");
        thread.setDaemon(true);
        thread.start();
    }

    /** Names the stage that the following samples belong to. */
    public void stage(String name) {
        sample();
        stage = name;
        sample();
    }

    private synchronized void sample() {
        long[] v = read();
        peakAnonKb = Math.max(peakAnonKb, v[0]);
        peakFileKb = Math.max(peakFileKb, v[1]);
        long[] s = stagePeaks.computeIfAbsent(stage, k -> new long[2]);
        s[0] = Math.max(s[0], v[0]);
        s[1] = Math.max(s[1], v[1]);
    }

    /** {RssAnon, RssFile, VmHWM, VmRSS} now, in kB (0 where the line is absent). */
    public static long[] read() {
        long[] v = new long[4];
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith("RssAnon:")) v[0] = kb(line);
                else if (line.startsWith("RssFile:")) v[1] = kb(line);
                else if (line.startsWith("VmHWM:")) v[2] = kb(line);
                else if (line.startsWith("VmRSS:")) v[3] = kb(line);
            }
        } catch (IOException e) {
            // not Linux: the figures stay 0 and the report says so
        }
        return v;
    }

    private static long kb(String line) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
    }

    public synchronized long peakAnonKb() {
        return peakAnonKb;
    }

    public synchronized long peakFileKb() {
        return peakFileKb;
    }

    /** Each stage's {peak RssAnon, peak RssFile} in kB, in the order the stages began. */
    public synchronized java.util.Map<String, long[]> stagePeaks() {
        java.util.Map<String, long[]> copy = new java.util.LinkedHashMap<>();
        stagePeaks.forEach((k, v) -> copy.put(k, v.clone()));
        return copy;
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        sample();
    }
}
