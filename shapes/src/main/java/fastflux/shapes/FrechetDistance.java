package fastflux.shapes;

import fastflux.world.Frechet;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * An FID stand-in for the Shapes world: the Fréchet distance between Gaussian fits of a fixed feature
 * map of generated and reference images, {@code |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)}.
 *
 * <p>Feature map ({@value #FEATURE_DIM} dims), keeping layout and colour: for each 8x8 lattice cell,
 * the mean R, G and B (48; the palette's colours are distinct channel mixes, so this sees which colour
 * sits where, and how much of it: object area, hence partly shape), plus the fraction of the cell's
 * pixels the judge's pixel classifier calls a palette colour (16; separates clean saturated objects
 * from grey haze or washed-out colour). 64 dims keep the Gaussian fit affordable: the usual
 * evaluation of 30 prompts x 4 seeds = 120 images is well above the minimum of {@value #FEATURE_DIM}
 * images. A 112-dim map (6 colour masks x 16 cells + 16 luminances) is worse: with 120 images its covariance
 * estimation noise between two samples of the world itself is half of the distance to an all-black set, against a
 * fifth with these 64 dims.
 */
public final class FrechetDistance {
    public static final int GRID = ShapesWorld.GRID;
    public static final int FEATURE_DIM = 4 * GRID * GRID;

    /** Offset of the palette-occupancy block; cell c's mean RGB sits at 3c, 3c+1, 3c+2. */
    public static final int OCCUPANCY_OFFSET = 3 * GRID * GRID;

    private FrechetDistance() {}

    public static double[] features(Image image) {
        double[] f = new double[FEATURE_DIM];
        int[] colour = Judge.colourMap(image);
        float[] rgb = image.rgb();
        int cell = ShapesWorld.CELL;
        double perPixel = 1.0 / (cell * cell);
        for (int y = 0; y < Image.SIZE; y++) {
            for (int x = 0; x < Image.SIZE; x++) {
                int c = (y / cell) * GRID + x / cell;
                int p = y * Image.SIZE + x;
                for (int ch = 0; ch < 3; ch++) {
                    f[3 * c + ch] += perPixel * rgb[p * 3 + ch];
                }
                if (colour[p] >= 0) {
                    f[OCCUPANCY_OFFSET + c] += perPixel;
                }
            }
        }
        return f;
    }

    public static Frechet.Gaussian fit(List<Image> images) {
        if (images.size() < FEATURE_DIM) {
            throw new IllegalArgumentException("FD needs at least " + FEATURE_DIM + " images (the feature dimension) "
                    + "for a covariance estimate, got " + images.size());
        }
        double[][] feats = new double[images.size()][];
        for (int i = 0; i < feats.length; i++) {
            feats[i] = features(images.get(i));
        }
        return fitFeatures(feats);
    }

    /** Gaussian fit of raw feature rows ({@link Frechet#fit}). */
    public static Frechet.Gaussian fitFeatures(double[][] rows) {
        return Frechet.fit(rows);
    }

    public static double distance(List<Image> generated, List<Image> reference) {
        return distance(fit(generated), fit(reference));
    }

    public static double distance(Frechet.Gaussian a, Frechet.Gaussian b) {
        return Frechet.distance(a, b);
    }

    /** n dataset images from the world's training distribution, deterministic in the seed. */
    public static List<Image> referenceImages(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<Image> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(ShapesWorld.sampleExample(r).image());
        }
        return out;
    }
}
