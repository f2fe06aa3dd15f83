package fastflux.pruning.plan;

import java.util.Locale;

/** Sizes as people write them: {@code 80G}, {@code 512MiB}, {@code 1.5GB} (binary units: G = GiB), bytes without a unit. */
public final class Bytes {
    private Bytes() {}

    public static final long KIB = 1024, MIB = KIB * 1024, GIB = MIB * 1024, TIB = GIB * 1024;

    /** @throws IllegalArgumentException naming the text when it is not a size */
    public static long parse(String text) {
        String s = text.trim();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?i)(\\d+(?:\\.\\d+)?)\\s*([kmgt]?)(i?b?)").matcher(s);
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + text + "' is not a size (bytes, or a number with K, M, G or T: 512M, 80G)");
        }
        double v = Double.parseDouble(m.group(1));
        long unit = switch (m.group(2).toUpperCase(Locale.ROOT)) {
            case "K" -> KIB;
            case "M" -> MIB;
            case "G" -> GIB;
            case "T" -> TIB;
            default -> 1;
        };
        double bytes = v * unit;
        if (bytes < 1 || bytes > Long.MAX_VALUE / 2) throw new IllegalArgumentException("'" + text + "' is not a size of memory");
        return (long) bytes;
    }

    /** {@code 1.50 GiB}, {@code 12.0 MiB}, {@code 512 B}. */
    public static String format(long bytes) {
        double b = bytes;
        if (b >= TIB) return String.format(Locale.ROOT, "%.2f TiB", b / TIB);
        if (b >= GIB) return String.format(Locale.ROOT, "%.2f GiB", b / GIB);
        if (b >= MIB) return String.format(Locale.ROOT, "%.1f MiB", b / MIB);
        if (b >= KIB) return String.format(Locale.ROOT, "%.1f KiB", b / KIB);
        return bytes + " B";
    }

    /** As the command line takes it back: {@code 1G} for whole GiB, else bytes. */
    public static String text(long bytes) {
        if (bytes % GIB == 0) return bytes / GIB + "G";
        if (bytes % MIB == 0) return bytes / MIB + "M";
        return Long.toString(bytes);
    }
}
