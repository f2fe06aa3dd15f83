package fastflux.model.io;

/**
 * Conversions between float and the two 16-bit float formats, bit-exact, round to nearest even.
 * Java 17 has no {@code Float.float16ToFloat}; bf16 must never reach DJL's PyTorch engine, so it
 * is converted here.
 */
public final class Half {

    private Half() {}

    /** bfloat16 (1 sign, 8 exponent, 7 mantissa bits) to float: exact. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** float to bfloat16, round to nearest even; NaN stays NaN (quiet, sign kept), infinities stay. */
    public static short floatToBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            // NaN: keep sign and top payload bits, force the quiet bit so it cannot round to inf.
            return (short) ((bits >>> 16) | 0x0040);
        }
        int roundingBias = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + roundingBias) >>> 16);
    }

    /** IEEE binary16 (1 sign, 5 exponent, 10 mantissa bits) to float: exact, subnormals included. */
    public static float f16ToFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0) {
            // zero or subnormal: mant * 2^-24, exact in float
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13)); // inf or NaN (payload kept)
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    /**
     * float to IEEE binary16, round to nearest even; values at or beyond 65520 become infinity,
     * tiny values become subnormals or signed zero, NaN stays NaN.
     */
    public static short floatToF16(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7fffffff;
        if (abs >= 0x7f800000) {
            if (abs == 0x7f800000) {
                return (short) (sign | 0x7c00);
            }
            return (short) (sign | 0x7e00 | ((abs >>> 13) & 0x3ff)); // quiet NaN
        }
        if (abs >= 0x477ff000) {
            // 65520 is halfway between 65504 (max, odd mantissa) and 65536: ties go to even = inf.
            return (short) (sign | 0x7c00);
        }
        if (abs < 0x38800000) {
            // below 2^-14: subnormal half, value = m * 2^-24; scaling by 2^24 is exact, rint is RNE.
            int m = (int) Math.rint(Float.intBitsToFloat(abs) * 0x1p24f);
            return (short) (sign | m); // m == 1024 is exactly the smallest normal encoding
        }
        // normal: rebias exponent (127 -> 15) and round the 13 dropped mantissa bits to nearest even;
        // a carry out of the mantissa correctly bumps the exponent.
        int rebased = abs - ((127 - 15) << 23);
        int roundingBias = 0xfff + ((abs >>> 13) & 1);
        return (short) (sign | ((rebased + roundingBias) >>> 13));
    }
}
