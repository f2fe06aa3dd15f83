package fastflux.pipeline.world;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * The prompt sets a FLUX.1 job uses when given none, built from the two public sets shipped as resources (their licences
 * beside them, {@code fastflux/pipeline/prompts/}): PartiPrompts (Apache-2.0, 1,632 prompts) and GenEval (MIT, 553).
 *
 * <p>The split is fixed and disjoint: PartiPrompts' distinct texts that are not GenEval prompts, ordered by the SHA-256
 * of their UTF-8 text, give in that order {@value #FIT} calibration-fit prompts, {@value #TRAIN} calibration-train
 * prompts, {@value #HELD_OUT} held-out prompts (the sandwich's held-out loss), and the rest; the evaluation set is
 * GenEval's 553 prompts followed by that rest. No text is in two sets (docs/flux-pruning.md, "Prompt sets").
 */
public final class DefaultPrompts {
    public static final int FIT = 512;
    public static final int TRAIN = 512;
    public static final int HELD_OUT = 64;
    static final String DIR = "/fastflux/pipeline/prompts/";

    /** The calibration pool in its order: the fit set, the train set, the held-out set. */
    private final List<String> calibration;
    private final List<String> evaluation;

    private DefaultPrompts(List<String> calibration, List<String> evaluation) {
        this.calibration = calibration;
        this.evaluation = evaluation;
    }

    private static DefaultPrompts instance;

    /** The sets, built once from the resources. */
    public static synchronized DefaultPrompts get() {
        if (instance == null) instance = build(parti(), geneval());
        return instance;
    }

    static DefaultPrompts build(List<String> parti, List<String> geneval) {
        Set<String> gen = new LinkedHashSet<>(geneval);
        List<String> rest = new ArrayList<>(new LinkedHashSet<>(parti));
        rest.removeAll(gen);
        rest.sort(Comparator.comparing(DefaultPrompts::sha256));
        int cal = FIT + TRAIN + HELD_OUT;
        if (rest.size() <= cal) throw new IllegalStateException("PartiPrompts holds " + rest.size() + " usable prompts, fewer than " + cal);
        List<String> evaluation = new ArrayList<>(gen);
        evaluation.addAll(rest.subList(cal, rest.size()));
        return new DefaultPrompts(List.copyOf(rest.subList(0, cal)), List.copyOf(evaluation));
    }

    /** Fit, then train, then held-out prompts ({@value #FIT} + {@value #TRAIN} + {@value #HELD_OUT}). */
    public List<String> calibration() {
        return calibration;
    }

    public List<String> fit() {
        return calibration.subList(0, FIT);
    }

    public List<String> train() {
        return calibration.subList(FIT, FIT + TRAIN);
    }

    public List<String> heldOut() {
        return calibration.subList(FIT + TRAIN, calibration.size());
    }

    /** GenEval's prompts, then PartiPrompts' not used for calibration. */
    public List<String> evaluation() {
        return evaluation;
    }

    /** {@code n} evaluation prompts, a shuffle of the set by {@code seed} (so a small n covers GenEval and Parti alike). */
    public List<String> evaluation(int n, long seed) {
        if (n > evaluation.size()) {
            throw new IllegalArgumentException("the evaluation set holds " + evaluation.size() + " prompts, not " + n);
        }
        List<String> all = new ArrayList<>(evaluation);
        Collections.shuffle(all, new Random(seed));
        return List.copyOf(all.subList(0, n));
    }

    /** PartiPrompts' texts (column Prompt), as in the file. */
    static List<String> parti() {
        List<String> lines = lines("PartiPrompts.tsv");
        if (!lines.get(0).startsWith("Prompt\t")) throw new IllegalStateException("PartiPrompts.tsv: unexpected header " + lines.get(0));
        List<String> out = new ArrayList<>();
        for (int i = 1; i < lines.size(); i++) {
            String l = lines.get(i);
            if (l.isBlank()) continue;
            String text = l.substring(0, l.indexOf('\t')).strip();
            out.add(PromptFiles.parse(text, "PartiPrompts.tsv", i + 1).text());
        }
        return out;
    }

    /** GenEval's generation prompts. */
    static List<String> geneval() {
        List<String> out = new ArrayList<>();
        List<String> lines = lines("geneval-generation_prompts.txt");
        for (int i = 0; i < lines.size(); i++) {
            if (!lines.get(i).isBlank()) out.add(PromptFiles.parse(lines.get(i), "geneval-generation_prompts.txt", i + 1).text());
        }
        return out;
    }

    private static List<String> lines(String name) {
        try (InputStream in = DefaultPrompts.class.getResourceAsStream(DIR + name)) {
            if (in == null) throw new IllegalStateException("resource " + DIR + name + " is missing from the jar");
            return List.of(new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\r?\n"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read resource " + DIR + name, e);
        }
    }

    static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
