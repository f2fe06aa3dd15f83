package fastflux.shapes;

import fastflux.model.ParallelInference;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The GenEval-style evaluation: K images per prompt from the guided sampler, each from its own noise ({@link
 * #imageSeed}), judged by {@link Judge}, plus the Fréchet distance of all images to dataset images. Deterministic.
 */
public final class Evaluation {
    private Evaluation() {}

    /** Dataset images the FD compares against: a fixed seed, never the evaluated prompts. */
    public static final long FD_REFERENCE_SEED = 20_241_128L;
    public static final int FD_REFERENCE_MIN = 256;

    /** Seeds of one prompt's images lie this far from the next prompt's, so seed bases 1000 apart never share one. */
    public static final long PROMPT_SEED_STRIDE = 1_000_003L;

    /**
     * The noise seed of image {@code k} of prompt {@code i}: {@code seedBase + k + PROMPT_SEED_STRIDE · i}. Every
     * image has its own noise, as in GenEval, where the generator's state runs on from prompt to prompt: with the same K
     * noises for every prompt an evaluation would rest on K draws of the noise, and a model that handled one of them
     * badly would lose it on every prompt.
     */
    public static long imageSeed(long seedBase, int prompt, int k) {
        return seedBase + k + PROMPT_SEED_STRIDE * prompt;
    }

    public record Options(int seeds, long seedBase, int steps, float guidance, int batch, Path saveImages) {
        public Options {
            if (seeds < 1) throw new IllegalArgumentException("seeds must be >= 1, got " + seeds);
            if (steps < 1) throw new IllegalArgumentException("steps must be >= 1, got " + steps);
            if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        }

        /**
         * 4 images a prompt from seed base 0, the model's sampler defaults, batches of 16 images: small enough that
         * the prune report's 96 images split evenly over {@link fastflux.model.ParallelInference}'s two threads (an
         * image does not depend on its batch).
         */
        public static Options defaults() {
            return new Builder(4, 0, ShapesModel.DEFAULT_STEPS, ShapesModel.DEFAULT_GUIDANCE, 16, null).build();
        }

        /** A builder starting from these options. */
        public Builder toBuilder() {
            return new Builder(seeds, seedBase, steps, guidance, batch, saveImages);
        }

        /** Sets fields one by one; {@link #build} checks them together. */
        public static final class Builder {
            private int seeds;
            private long seedBase;
            private int steps;
            private float guidance;
            private int batch;
            private Path saveImages;

            private Builder(int seeds, long seedBase, int steps, float guidance, int batch, Path saveImages) {
                this.seeds = seeds;
                this.seedBase = seedBase;
                this.steps = steps;
                this.guidance = guidance;
                this.batch = batch;
                this.saveImages = saveImages;
            }

            /** Images per prompt. */
            public Builder seeds(int n) {
                seeds = n;
                return this;
            }

            /** The first noise seed ({@link Evaluation#imageSeed}). */
            public Builder seedBase(long base) {
                seedBase = base;
                return this;
            }

            public Builder steps(int s) {
                steps = s;
                return this;
            }

            public Builder guidance(float g) {
                guidance = g;
                return this;
            }

            /** Images per generated batch. */
            public Builder batch(int b) {
                batch = b;
                return this;
            }

            /** Where the images are written (null: nowhere). */
            public Builder saveImages(Path dir) {
                saveImages = dir;
                return this;
            }

            public Options build() {
                return new Options(seeds, seedBase, steps, guidance, batch, saveImages);
            }
        }
    }

    public record Result(EvalReport report, List<Image> images) {}

    /** Called after each generated batch with the number of images done so far. */
    public interface Progress {
        void done(int images, int total);
    }

    public static Result run(ShapesModel model, List<Prompt> prompts, Options o, Progress progress) {
        List<String> texts = new ArrayList<>();
        List<Prompt> owners = new ArrayList<>();
        List<Long> seeds = new ArrayList<>();
        List<Integer> lines = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            for (int k = 0; k < o.seeds(); k++) {
                texts.add(prompts.get(i).text());
                owners.add(prompts.get(i));
                seeds.add(imageSeed(o.seedBase(), i, k));
                lines.add(i);
            }
        }
        long[] sd = seeds.stream().mapToLong(Long::longValue).toArray();
        List<Image> images = model.generate(texts, sd, o.steps(), o.guidance(), o.batch(),
                ParallelInference.defaultThreads(), progress == null ? null : done -> progress.done(done, texts.size()));
        EvalReport report = new EvalReport();
        for (int i = 0; i < images.size(); i++) report.add(owners.get(i), images.get(i));
        int nRef = Math.max(FD_REFERENCE_MIN, images.size());
        if (images.size() >= FrechetDistance.FEATURE_DIM) {
            report.setFd(FrechetDistance.distance(images, FrechetDistance.referenceImages(nRef, FD_REFERENCE_SEED)));
        }
        if (o.saveImages() != null) {
            try {
                Files.createDirectories(o.saveImages());
                for (int i = 0; i < images.size(); i++) {
                    Png.write(images.get(i), o.saveImages().resolve(String.format("%04d-%d.png", lines.get(i), seeds.get(i))));
                }
            } catch (IOException ex) {
                throw new UncheckedIOException("cannot save images to " + o.saveImages(), ex);
            }
        }
        return new Result(report, images);
    }
}
