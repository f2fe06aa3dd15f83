package fastflux.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Set;
import org.junit.jupiter.api.Test;

/** FlopCount against a count done by hand, layer by layer. */
class FlopCountTest {
    // in 2, out 3, vec 4, context 5, hidden 8, mlp 2 (16), 2 heads, 1 double + 1 single, guidance embedded
    static final FluxParams P = new FluxParams(2, 3, 4, 5, 8, 2.0, 2, 1, 1, new int[] {2, 2}, 10_000, true, true);

    // batch 1, 3 image + 2 text tokens (L = 5), in multiply-accumulates:
    //   img_in 3·2·8 = 48, txt_in 2·5·8 = 80, time_in 256·8 + 8·8 = 2112, guidance_in 2112, vector_in 4·8 + 64 = 96
    //   double: mods 2·8·48 = 768, qkv 5·8·24 = 960, proj 5·8·8 = 320, mlp 5·(8·16 + 16·8) = 1280,
    //           attention QKᵀ 5·5·8 + PV 5·5·8 = 400                                 -> 3728
    //   single: mod 8·24 = 192, linear1 5·8·(24 + 16) = 1600, linear2 5·24·8 = 960, attention 400 -> 3152
    //   final: adaLN 8·16 = 128, linear 3·8·3 = 72                                  -> 200
    static final long MACS = 48 + 80 + 2112 + 2112 + 96 + 3728 + 3152 + 200; // 11528

    @Test
    void countsEveryLinearAndBothAttentionMatmuls() {
        assertEquals(2 * MACS, FlopCount.forward(P, 1, 3, 2));
        assertEquals(23_056, FlopCount.forward(P, 1, 3, 2));
    }

    @Test
    void scalesWithBatch() {
        assertEquals(3 * FlopCount.forward(P, 1, 3, 2), FlopCount.forward(P, 3, 3, 2));
    }

    @Test
    void noGuidanceEmbedderWithoutGuidance() {
        FluxParams noGuidance = new FluxParams(2, 3, 4, 5, 8, 2.0, 2, 1, 1, new int[] {2, 2}, 10_000, true, false);
        assertEquals(2 * (MACS - 2112), FlopCount.forward(noGuidance, 1, 3, 2));
    }

    @Test
    void aReplacedBlockCountsAsAPerTokenLinear() {
        // the double block (3728) becomes 5 tokens · 8·8 = 320; the single block (3152) likewise
        assertEquals(2 * (MACS - 3728 + 320), FlopCount.forward(P, 1, 3, 2, Set.of("double_blocks.0")));
        assertEquals(2 * (MACS - 3152 + 320), FlopCount.forward(P, 1, 3, 2, Set.of("single_blocks.0")));
        assertEquals(FlopCount.forward(P, 1, 3, 2), FlopCount.forward(P, 1, 3, 2, Set.of()));
    }

    @Test
    void fluxMidIsAboutTwoHundredThirtyGflop() {
        // 12 blocks × (1088 tokens × 7.08 M MACs + 2·1088²·768) + embedders ≈ 229 GFLOP
        double gflop = FlopCount.forward(FluxParams.named("flux-mid"), 1, 1024, 64) / 1e9;
        assertEquals(229, gflop, 2);
    }
}
