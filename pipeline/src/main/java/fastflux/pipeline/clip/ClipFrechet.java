package fastflux.pipeline.clip;

import fastflux.world.Frechet;

/**
 * The Fréchet distance between two sets of CLIP image embeddings ({@link ClipModel#imageEmbeds}), the CLIP-feature
 * variant of FID that clean-fid offers: Gaussian fits (mean, unbiased covariance) of each set, then
 * {@code |mu1 - mu2|² + Tr(S1 + S2 - 2 (S1^½ S2 S1^½)^½)} by {@link Frechet}.
 *
 * <p>Each set needs at least as many images as the embedding has dimensions (ViT-L/14: 768; the tiny fixture:
 * 24); fewer leave the covariance singular and are refused. Cost: the fits are O(n·d²) and the distance a few
 * symmetric eigendecompositions and products of d × d matrices, O(d³) in double on one core; docs/clip.md gives
 * the measured time at d = 768.
 */
public final class ClipFrechet {
    private ClipFrechet() {}

    /** The fewest images per set for {@code dim}-dimensional embeddings. */
    public static int minimumImages(int dim) {
        return Math.max(dim, 2);
    }

    /** The distance between the sets {@code a} and {@code b} of embeddings (rows), each with at least d rows. */
    public static double distance(double[][] a, double[][] b) {
        if (a.length > 0 && b.length > 0 && a[0].length != b[0].length) {
            throw new IllegalArgumentException("embedding sets differ in dimension: " + a[0].length + " vs " + b[0].length);
        }
        for (double[][] set : new double[][][] {a, b}) {
            if (set.length > 0 && set.length < minimumImages(set[0].length)) {
                throw new IllegalArgumentException("the Fréchet distance of " + set[0].length + "-dim CLIP embeddings needs at "
                        + "least " + minimumImages(set[0].length) + " images per set, got " + set.length);
            }
        }
        return Frechet.distance(Frechet.fit(a), Frechet.fit(b));
    }

    /** The embeddings as double features (a lossless widening). */
    public static double[][] toDouble(float[][] embeds) {
        double[][] out = new double[embeds.length][];
        for (int i = 0; i < embeds.length; i++) {
            out[i] = new double[embeds[i].length];
            for (int j = 0; j < embeds[i].length; j++) out[i][j] = embeds[i][j];
        }
        return out;
    }
}
