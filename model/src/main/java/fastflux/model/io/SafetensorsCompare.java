package fastflux.model.io;

import java.nio.file.Path;

/** Compares two safetensors files tensor by tensor (names, shapes, values). */
public final class SafetensorsCompare {
    private SafetensorsCompare() {}

    /**
     * The largest |a − b| over every floating tensor, relative to that tensor's largest |a|; infinity when the
     * files differ in names or shapes.
     */
    public static double maxRelativeDifference(Path a, Path b) {
        try (SafetensorsReader x = SafetensorsReader.open(a); SafetensorsReader y = SafetensorsReader.open(b)) {
            if (!x.names().equals(y.names())) return Double.POSITIVE_INFINITY;
            double worst = 0;
            for (String n : x.names()) {
                if (!java.util.Arrays.equals(x.info(n).shape(), y.info(n).shape())) return Double.POSITIVE_INFINITY;
                if (!x.info(n).dtype().isFloating()) continue;
                float[] u = x.readFloats(n), v = y.readFloats(n);
                double scale = 1e-12, diff = 0;
                for (int i = 0; i < u.length; i++) {
                    scale = Math.max(scale, Math.abs(u[i]));
                    diff = Math.max(diff, Math.abs((double) u[i] - v[i]));
                }
                worst = Math.max(worst, diff / scale);
            }
            return worst;
        }
    }
}
