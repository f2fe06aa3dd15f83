package fastflux.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.List;
import org.junit.jupiter.api.Test;

class ForwardTimerTest {
    @Test
    void medianOfOddAndEvenCounts() {
        assertEquals(2.0, ForwardTimer.median(new double[] {3, 1, 2}));
        assertEquals(2.5, ForwardTimer.median(new double[] {4, 1, 3, 2}));
    }

    @Test
    void pairedRatiosCancelWhatARoundDidToBothModels() {
        // model 0 always takes 0.8x model 1's time, but the machine's speed changes 10x between rounds
        ForwardTimer.Timing t = new ForwardTimer.Timing(new double[][] {{8, 80, 16, 800}, {10, 100, 20, 1000}});
        double[] q = t.ratioQuartiles(0, 1);
        assertArrayEquals(new double[] {0.8, 0.8, 0.8}, q, 1e-12);
        assertEquals(48.0, t.medianMs(0)); // the medians themselves carry the drift
        assertEquals(4, t.rounds());
        double[] spread = new ForwardTimer.Timing(new double[][] {{1, 2, 3, 4, 5}, {1, 1, 1, 1, 1}}).ratioQuartiles(0, 1);
        assertArrayEquals(new double[] {2, 3, 4}, spread, 1e-12);
    }

    @Test
    void timesEveryModelOnTheSameInputsAndLeavesThemOpen() {
        FluxParams p = FluxParams.named("flux-tiny-a");
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel a = new FluxModel(p);
            a.initRandom(m, DataType.FLOAT32, 1);
            FluxModel b = new FluxModel(p.withDepth(1, 1));
            b.initRandom(m, DataType.FLOAT32, 2);
            FluxInputs in = FluxInputs.random(p, m, 2, 16, 4, 0);
            double[] ms = ForwardTimer.time(List.of(a, b, a), in, 1, 3).medians();
            assertEquals(3, ms.length);
            for (double v : ms) assertTrue(v > 0 && Double.isFinite(v));
            assertEquals(2, in.img().getShape().get(0), "the inputs survive the timing scopes");
            assertThrows(IllegalArgumentException.class, () -> ForwardTimer.time(List.of(a), in, 0, 0));
        }
    }
}
