package fastflux.cli;

import java.io.PrintStream;

/** A one-line console progress bar, redrawn in place on a terminal and printed every few seconds otherwise. */
final class ProgressBar {
    private final String label;
    private final PrintStream out;
    private final boolean tty = System.console() != null;
    private long lastPrint;

    ProgressBar(String label, PrintStream out) {
        this.label = label;
        this.out = out;
    }

    void update(long done, long total, String detail) {
        long now = System.nanoTime();
        boolean last = total > 0 && done >= total;
        if (!tty && !last && now - lastPrint < 10_000_000_000L) return;
        if (tty && !last && now - lastPrint < 200_000_000L) return;
        lastPrint = now;
        int width = 30;
        int filled = total <= 0 ? 0 : (int) Math.min(width, width * done / total);
        String bar = "#".repeat(filled) + "-".repeat(width - filled);
        String line = String.format("%s [%s] %d/%s %s", label, bar, done, total > 0 ? Long.toString(total) : "?", detail);
        if (tty) out.print("\r" + line + "\033[K");
        else out.println(line);
        out.flush();
    }

    void done() {
        if (tty) out.println();
    }

    static String duration(double seconds) {
        if (!Double.isFinite(seconds) || seconds < 0) return "?";
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%dh%02dm", s / 3600, s / 60 % 60) : String.format("%dm%02ds", s / 60, s % 60);
    }
}
