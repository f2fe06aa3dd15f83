package fastflux.pipeline.t5;

/**
 * T5's bidirectional relative position buckets ({@code T5Attention._relative_position_bucket}): half the buckets
 * for keys after the query, half for keys at or before it; within a half, distances below a quarter of the buckets
 * get a bucket each and longer ones share logarithmically spaced buckets up to {@code maxDistance}.
 */
public final class RelativePosition {
    private RelativePosition() {}

    /** The bucket of {@code relative = keyPos - queryPos}, computed in fp32 like the reference's tensor ops. */
    public static int bucket(int relative, int numBuckets, int maxDistance) {
        int half = numBuckets / 2;
        int base = relative > 0 ? half : 0;
        int distance = Math.abs(relative);
        int maxExact = half / 2;
        if (distance < maxExact) return base + distance;
        // log(float(d) / maxExact) / log(maxDistance / maxExact) * (half - maxExact), each step rounded to fp32.
        float ratio = (float) distance / (float) maxExact;
        float scaled = (float) Math.log(ratio) / (float) Math.log((double) maxDistance / maxExact) * (float) (half - maxExact);
        int large = maxExact + (int) scaled;
        return base + Math.min(large, half - 1);
    }

    /** Buckets for every (query, key) pair, row-major. */
    // -> [qLen, kLen]: bucket(k - q)
    public static int[] buckets(int qLen, int kLen, int numBuckets, int maxDistance) {
        int[] out = new int[Math.multiplyExact(qLen, kLen)];
        for (int q = 0; q < qLen; q++) {
            for (int k = 0; k < kLen; k++) out[q * kLen + k] = bucket(k - q, numBuckets, maxDistance);
        }
        return out;
    }
}
