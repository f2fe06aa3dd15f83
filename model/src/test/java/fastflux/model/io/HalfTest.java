package fastflux.model.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HalfTest {

    private static int bf16(float f) {
        return Half.floatToBf16(f) & 0xffff;
    }

    private static int f16(float f) {
        return Half.floatToF16(f) & 0xffff;
    }

    @Test
    void bf16ExactCases() {
        assertEquals(0x3f80, bf16(1.0f));
        assertEquals(0xc020, bf16(-2.5f));
        assertEquals(0x0000, bf16(0.0f));
        assertEquals(0x8000, bf16(-0.0f));
        assertEquals(0x7f80, bf16(Float.POSITIVE_INFINITY));
        assertEquals(0xff80, bf16(Float.NEGATIVE_INFINITY));
        assertTrue(Float.isNaN(Half.bf16ToFloat(Half.floatToBf16(Float.NaN))));
        assertTrue(Float.isNaN(Half.bf16ToFloat(Half.floatToBf16(Float.intBitsToFloat(0x7f800001))))); // NaN whose payload is only in low bits
        // max finite bf16 0x7f7f, min subnormal bf16 0x0001 = 2^-133
        assertEquals(0x1.fep127f, Half.bf16ToFloat((short) 0x7f7f));
        assertEquals(0x7f7f, bf16(0x1.fep127f));
        assertEquals(0x1p-133f, Half.bf16ToFloat((short) 0x0001));
        assertEquals(0x0001, bf16(0x1p-133f));
        assertEquals(1.0f, Half.bf16ToFloat((short) 0x3f80));
        assertEquals(-2.5f, Half.bf16ToFloat((short) 0xc020));
        // Float.MAX_VALUE is past bf16 max + half ulp: rounds to inf
        assertEquals(0x7f80, bf16(Float.MAX_VALUE));
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(0x3f80, bf16(Float.intBitsToFloat(0x3f808000))); // 1 + 2^-8: tie, down to even 0x3f80
        assertEquals(0x3f82, bf16(Float.intBitsToFloat(0x3f818000))); // 1 + 3*2^-8: tie, up to even 0x3f82
        assertEquals(0x3f81, bf16(Float.intBitsToFloat(0x3f808001))); // just above the tie
        assertEquals(0x3f80, bf16(Float.intBitsToFloat(0x3f807fff))); // just below the tie
    }

    @Test
    void f16ExactCases() {
        assertEquals(0x3c00, f16(1.0f));
        assertEquals(0xc100, f16(-2.5f));
        assertEquals(0x8000, f16(-0.0f));
        assertEquals(0x7bff, f16(65504f));                 // max
        assertEquals(65504f, Half.f16ToFloat((short) 0x7bff));
        assertEquals(0x0001, f16(0x1p-24f));               // min subnormal
        assertEquals(0x1p-24f, Half.f16ToFloat((short) 0x0001));
        assertEquals(0x0400, f16(0x1p-14f));               // min normal
        assertEquals(0x1p-14f, Half.f16ToFloat((short) 0x0400));
        assertEquals(0x7c00, f16(Float.POSITIVE_INFINITY));
        assertEquals(0xfc00, f16(Float.NEGATIVE_INFINITY));
        assertEquals(Float.NEGATIVE_INFINITY, Half.f16ToFloat((short) 0xfc00));
        assertTrue(Float.isNaN(Half.f16ToFloat(Half.floatToF16(Float.NaN))));
        assertTrue(Float.isNaN(Half.f16ToFloat(Half.floatToF16(Float.intBitsToFloat(0x7f800001)))));
        assertTrue(Float.isNaN(Half.f16ToFloat((short) 0x7c01)));
    }

    @Test
    void f16OverflowAndUnderflow() {
        assertEquals(0x7bff, f16(65519.996f));   // below the halfway point to 65536
        assertEquals(0x7c00, f16(65520f));       // tie between 65504 (odd) and 65536: to even = inf
        assertEquals(0x7c00, f16(1e6f));
        assertEquals(0xfc00, f16(-Float.MAX_VALUE));
        assertEquals(0x0000, f16(0x1p-25f));     // tie between 0 and min subnormal: to even = 0
        assertEquals(0x0001, f16(0x1.000002p-25f));
        assertEquals(0x0002, f16(0x3p-25f));     // tie between 1 and 2 subnormal ulps: to even = 2
        assertEquals(0x8000, f16(-0x1p-30f));    // underflow keeps the sign
        assertEquals(0x03ff, f16(0x1.ff8p-15f)); // largest subnormal
        assertEquals(0x0400, f16(0x1.ffcp-15f)); // largest subnormal + half ulp: tie up to min normal (even)
    }

    @Test
    void f16RoundsToNearestEven() {
        assertEquals(0x3c00, f16(1f + 0x1p-11f));      // tie, down to even
        assertEquals(0x3c02, f16(1f + 0x3p-11f));      // tie, up to even
        assertEquals(0x3c01, f16(Float.intBitsToFloat(0x3f801001))); // one float ulp above the tie
        assertEquals(0x4000, f16(2f - 0x1p-12f));      // carry into the exponent: 1.11..1|1 -> 2.0
    }

    @Test
    void everyHalfPatternRoundTrips() {
        for (int h = 0; h < 0x10000; h++) {
            float f16 = Half.f16ToFloat((short) h);
            float bf16 = Half.bf16ToFloat((short) h);
            if (!Float.isNaN(f16)) {
                assertEquals(h, f16(f16), "f16 0x" + Integer.toHexString(h));
            }
            if (!Float.isNaN(bf16)) {
                assertEquals(h, bf16(bf16), "bf16 0x" + Integer.toHexString(h));
            }
        }
    }

    @Test
    void randomFloatsRoundToTheNearestHalf() {
        SplittableRandom random = new SplittableRandom(7);
        for (int i = 0; i < 200_000; i++) {
            float x = Float.intBitsToFloat(random.nextInt());
            if (Float.isNaN(x) || Float.isInfinite(x) || Math.abs(x) >= 65504f) {
                continue;
            }
            int h = f16(x) & 0x7fff; // magnitude encoding, ordered like the values
            double err = Math.abs(Math.abs((double) x) - Half.f16ToFloat((short) h));
            double up = h < 0x7bff ? Math.abs(Math.abs((double) x) - Half.f16ToFloat((short) (h + 1))) : Double.MAX_VALUE;
            double down = h > 0 ? Math.abs(Math.abs((double) x) - Half.f16ToFloat((short) (h - 1))) : Double.MAX_VALUE;
            assertTrue(err <= up && err <= down, "f16 of " + x + " is 0x" + Integer.toHexString(h));
        }
    }
}
