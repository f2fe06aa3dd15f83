package fastflux.train;

import ai.djl.ndarray.NDManager;
import fastflux.model.FluxParams;
import fastflux.shapes.TinyTrainer;
import java.util.List;

/** Loops micro training steps; prints the losses so runs under MALLOC_PERTURB_ can be compared. */
public final class NativeHarness {
    public static void main(String[] args) {
        int steps = Integer.parseInt(args[0]);
        FluxParams micro = new FluxParams(48, 48, 32, 32, 32, 2.0, 2, 1, 2, new int[] {4, 6, 6}, 10_000, true, false);
        fastflux.model.GcPressure.startIf("harness.gcThread", 2);
        try (NDManager m = NDManager.newBaseManager()) {
            int validateEvery = args.length > 1 ? Integer.parseInt(args[1]) : 0;
            java.nio.file.Path out = args.length > 2 ? java.nio.file.Path.of(args[2]) : null;
            boolean gc = Boolean.getBoolean("harness.gc");
            TinyTrainer t = TinyTrainer.fresh(micro, new TinyTrainer.Options(4, 1e-3, 2, 0.01, 1.0, 0.9, 0.2, 7, 3,
                    steps, 0.4, validateEvery, validateEvery > 0 ? 8 : 0), m);
            t.train(steps, 0, out, gc ? (s, n, loss, r, left) -> System.gc() : null);
            List<Float> l = t.losses();
            StringBuilder sb = new StringBuilder();
            for (float f : l) sb.append(Integer.toHexString(Float.floatToRawIntBits(f))).append(' ');
            System.out.println("LOSSES " + sb);
            System.out.println("SKIPPED " + t.skipped());
        }
    }
}
