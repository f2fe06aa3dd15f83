package fastflux.pipeline.clip;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * CLIP's byte-level BPE tokenizer, run by Hugging Face's tokenizers library through DJL. Tokenizer folders of
 * CLIP ship {@code vocab.json} and {@code merges.txt} but often no {@code tokenizer.json}, the only form DJL
 * loads, so {@link #tokenizerJson} builds the one {@code CLIPTokenizerFast} would convert them to.
 *
 * <p>Each prompt becomes {@code <|startoftext|>}, its BPE tokens, {@code <|endoftext|>}, truncated to
 * {@code model_max_length} with the end-of-text token kept last and padded to that length with the pad token
 * (FLUX.1's call: {@code padding="max_length"}, {@code truncation=True}).
 */
public final class ClipTokenizer implements AutoCloseable {

    /** CLIP's pre-tokenizer split (transformers' {@code CLIPConverter}): contractions, letters, one digit, symbols. */
    static final String SPLIT_REGEX = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();

    private final HuggingFaceTokenizer tokenizer;
    private final Specials specials;

    /** The special tokens and the length every encoding has. */
    public record Specials(String bos, int bosId, String eos, int eosId, String pad, int padId, String unk,
                           int maxLength) {}

    private ClipTokenizer(HuggingFaceTokenizer tokenizer, Specials specials) {
        this.tokenizer = tokenizer;
        this.specials = specials;
    }

    /**
     * Loads a CLIP tokenizer folder: {@code vocab.json}, {@code merges.txt} and, when present,
     * {@code tokenizer_config.json} (special tokens, {@code model_max_length}) and {@code special_tokens_map.json}.
     */
    public static ClipTokenizer load(Path dir) {
        JsonObject json = tokenizerJson(dir);
        Specials specials = specials(dir, json.getAsJsonObject("model").getAsJsonObject("vocab"));
        Map<String, String> options = Map.of(
                "addSpecialTokens", "true",
                "padding", "MAX_LENGTH",
                "truncation", "LONGEST_FIRST",
                "maxLength", Integer.toString(specials.maxLength()),
                "modelMaxLength", Integer.toString(specials.maxLength()));
        try {
            // From a stream, never a name: a name would make DJL look the tokenizer up on the Hugging Face hub.
            HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(
                    new ByteArrayInputStream(GSON.toJson(json).getBytes(StandardCharsets.UTF_8)), options);
            return new ClipTokenizer(hf, specials);
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot load the tokenizer built from vocab.json and merges.txt", e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(dir + ": the tokenizer built from vocab.json and merges.txt does not "
                    + "load: " + e.getMessage(), e);
        }
    }

    /**
     * The {@code tokenizer.json} that {@code CLIPTokenizerFast} builds from this folder (transformers'
     * {@code CLIPConverter}): NFC, whitespace runs to one space and lower case; the CLIP split and byte-level
     * mapping; BPE with the {@code </w>} end-of-word suffix; bos and eos added around every sequence; truncation
     * and padding to {@code model_max_length}.
     */
    public static JsonObject tokenizerJson(Path dir) {
        Path vocabFile = dir.resolve("vocab.json");
        JsonObject vocab = readObject(vocabFile);
        for (Map.Entry<String, JsonElement> e : vocab.entrySet()) {
            JsonElement v = e.getValue();
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber()) {
                throw new IllegalArgumentException(vocabFile + ": token " + GSON.toJson(e.getKey())
                        + " maps to " + v + ", not an id");
            }
        }
        JsonArray merges = readMerges(dir.resolve("merges.txt"));
        Specials s = specials(dir, vocab);

        JsonObject normalizer = sequence("normalizers",
                type("NFC"),
                replace(),
                type("Lowercase"));
        JsonObject split = type("Split");
        split.add("pattern", regex(SPLIT_REGEX));
        split.addProperty("behavior", "Removed");
        split.addProperty("invert", true);
        JsonObject byteLevel = type("ByteLevel");
        byteLevel.addProperty("add_prefix_space", false);
        byteLevel.addProperty("trim_offsets", true);
        byteLevel.addProperty("use_regex", true);
        JsonObject preTokenizer = sequence("pretokenizers", split, byteLevel);

        JsonObject model = type("BPE");
        model.add("dropout", JsonNull.INSTANCE);
        model.addProperty("unk_token", s.unk());
        model.addProperty("continuing_subword_prefix", "");
        model.addProperty("end_of_word_suffix", "</w>");
        model.addProperty("fuse_unk", false);
        model.addProperty("byte_fallback", false);
        model.add("vocab", vocab);
        model.add("merges", merges);

        JsonObject post = type("RobertaProcessing");
        post.add("sep", pair(s.eos(), s.eosId()));
        post.add("cls", pair(s.bos(), s.bosId()));
        post.addProperty("trim_offsets", false);
        post.addProperty("add_prefix_space", false);

        JsonObject decoder = type("ByteLevel");
        decoder.addProperty("add_prefix_space", true);
        decoder.addProperty("trim_offsets", true);
        decoder.addProperty("use_regex", true);

        JsonObject truncation = new JsonObject();
        truncation.addProperty("direction", "Right");
        truncation.addProperty("max_length", s.maxLength());
        truncation.addProperty("strategy", "LongestFirst");
        truncation.addProperty("stride", 0);
        JsonObject padding = new JsonObject();
        JsonObject fixed = new JsonObject();
        fixed.addProperty("Fixed", s.maxLength());
        padding.add("strategy", fixed);
        padding.addProperty("direction", "Right");
        padding.add("pad_to_multiple_of", JsonNull.INSTANCE);
        padding.addProperty("pad_id", s.padId());
        padding.addProperty("pad_type_id", 0);
        padding.addProperty("pad_token", s.pad());

        JsonObject out = new JsonObject();
        out.addProperty("version", "1.0");
        out.add("truncation", truncation);
        out.add("padding", padding);
        out.add("added_tokens", addedTokens(dir, s));
        out.add("normalizer", normalizer);
        out.add("pre_tokenizer", preTokenizer);
        out.add("post_processor", post);
        out.add("decoder", decoder);
        out.add("model", model);
        return out;
    }

    /** One prompt's ids, {@link Specials#maxLength} long. */
    public long[] encode(String prompt) {
        Encoding encoding = tokenizer.encode(prompt);
        long[] ids = encoding.getIds();
        if (ids.length != specials.maxLength()) {
            throw new IllegalStateException("the tokenizer gave " + ids.length + " ids, expected "
                    + specials.maxLength());
        }
        return ids;
    }

    /** Each prompt's ids, encoded one at a time, so no prompt's encoding depends on the others. */
    public long[][] encode(List<String> prompts) {
        long[][] out = new long[prompts.size()][];
        for (int i = 0; i < out.length; i++) out[i] = encode(prompts.get(i));
        return out;
    }

    /** The prompt's BPE tokens as strings, with the special tokens and padding ({@code a</w>}, ...). */
    public List<String> tokens(String prompt) {
        return List.of(tokenizer.encode(prompt).getTokens());
    }

    public Specials specials() {
        return specials;
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    // ---------------------------------------------------------------- tokenizer folder

    /** The special tokens from tokenizer_config.json, else special_tokens_map.json, else CLIP's; ids from the files. */
    private static Specials specials(Path dir, JsonObject vocab) {
        JsonObject config = optionalObject(dir.resolve("tokenizer_config.json"));
        JsonObject map = optionalObject(dir.resolve("special_tokens_map.json"));
        String bos = token(config, map, "bos_token", "<|startoftext|>");
        String eos = token(config, map, "eos_token", "<|endoftext|>");
        String pad = token(config, map, "pad_token", eos);
        String unk = token(config, map, "unk_token", eos);
        Map<String, Integer> added = addedTokenIds(dir, config);
        int maxLength = 77;
        if (config.has("model_max_length")) {
            JsonElement e = config.get("model_max_length");
            double v = e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber() ? e.getAsDouble() : -1;
            // Tokenizers without a limit store a huge sentinel (1e30); CLIP's text tower has 77 positions.
            if (v >= 2 && v <= 1 << 20 && v == Math.rint(v)) {
                maxLength = (int) v;
            } else if (v < 2 || v != Math.rint(v)) {
                throw new IllegalArgumentException(dir.resolve("tokenizer_config.json") + ": \"model_max_length\" "
                        + e + " is not an integer of at least 2");
            }
        }
        return new Specials(bos, id(dir, vocab, added, bos), eos, id(dir, vocab, added, eos), pad,
                id(dir, vocab, added, pad), unk, maxLength);
    }

    private static int id(Path dir, JsonObject vocab, Map<String, Integer> added, String token) {
        if (added.containsKey(token)) return added.get(token);
        JsonElement e = vocab.get(token);
        if (e == null) {
            throw new IllegalArgumentException(dir.resolve("vocab.json") + ": special token " + token
                    + " has no id (not in vocab.json nor in tokenizer_config.json's added_tokens_decoder)");
        }
        return e.getAsInt();
    }

    private static String token(JsonObject config, JsonObject map, String field, String fallback) {
        for (JsonObject o : List.of(config, map)) {
            JsonElement e = o.get(field);
            if (e == null || e.isJsonNull()) continue;
            if (e.isJsonPrimitive()) return e.getAsString();
            // Older files store an AddedToken object: {"__type": "AddedToken", "content": ...}.
            if (e.isJsonObject() && e.getAsJsonObject().has("content")) return e.getAsJsonObject().get("content").getAsString();
        }
        return fallback;
    }

    private static Map<String, Integer> addedTokenIds(Path dir, JsonObject config) {
        Map<String, Integer> ids = new LinkedHashMap<>();
        for (Map.Entry<String, JsonObject> e : addedTokensDecoder(dir, config).entrySet()) {
            ids.put(e.getValue().get("content").getAsString(), Integer.parseInt(e.getKey()));
        }
        return ids;
    }

    private static Map<String, JsonObject> addedTokensDecoder(Path dir, JsonObject config) {
        Map<String, JsonObject> out = new LinkedHashMap<>();
        JsonElement decoder = config.get("added_tokens_decoder");
        if (decoder == null || !decoder.isJsonObject()) return out;
        for (Map.Entry<String, JsonElement> e : decoder.getAsJsonObject().entrySet()) {
            boolean ok = e.getKey().matches("\\d+") && e.getValue().isJsonObject()
                    && e.getValue().getAsJsonObject().has("content");
            if (!ok) {
                throw new IllegalArgumentException(dir.resolve("tokenizer_config.json") + ": added_tokens_decoder entry "
                        + e.getKey() + " is not an id with a token object");
            }
            out.put(e.getKey(), e.getValue().getAsJsonObject());
        }
        return out;
    }

    /** The added tokens of tokenizer_config.json with their flags; the special tokens alone when it lists none. */
    private static JsonArray addedTokens(Path dir, Specials s) {
        JsonArray out = new JsonArray();
        Map<String, JsonObject> decoder = addedTokensDecoder(dir, optionalObject(dir.resolve("tokenizer_config.json")));
        if (!decoder.isEmpty()) {
            for (Map.Entry<String, JsonObject> e : decoder.entrySet()) {
                JsonObject t = e.getValue();
                out.add(addedToken(Integer.parseInt(e.getKey()), t.get("content").getAsString(),
                        flag(t, "single_word"), flag(t, "lstrip"), flag(t, "rstrip"), flag(t, "normalized"),
                        !t.has("special") || t.get("special").getAsBoolean()));
            }
            return out;
        }
        Map<Integer, String> specials = new LinkedHashMap<>();
        specials.put(s.bosId(), s.bos());
        specials.put(s.eosId(), s.eos());
        specials.putIfAbsent(s.padId(), s.pad());
        for (Map.Entry<Integer, String> e : specials.entrySet()) {
            out.add(addedToken(e.getKey(), e.getValue(), false, false, false, false, true));
        }
        return out;
    }

    private static boolean flag(JsonObject o, String name) {
        return o.has(name) && o.get(name).getAsBoolean();
    }

    private static JsonObject addedToken(int id, String content, boolean singleWord, boolean lstrip, boolean rstrip,
                                         boolean normalized, boolean special) {
        JsonObject t = new JsonObject();
        t.addProperty("id", id);
        t.addProperty("content", content);
        t.addProperty("single_word", singleWord);
        t.addProperty("lstrip", lstrip);
        t.addProperty("rstrip", rstrip);
        t.addProperty("normalized", normalized);
        t.addProperty("special", special);
        return t;
    }

    /** merges.txt: an optional {@code #version} line, then one merge per line, two symbols separated by a space. */
    private static JsonArray readMerges(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e, e);
        }
        JsonArray merges = new JsonArray();
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if ((i == 0 && line.startsWith("#version")) || line.isBlank()) continue;
            String[] parts = line.split(" ", -1);
            if (parts.length != 2 || parts[0].isEmpty() || parts[1].isEmpty()) {
                if (bad.size() < 5) bad.add("line " + (i + 1) + ": " + GSON.toJson(line));
                else if (bad.size() == 5) bad.add("...");
                continue;
            }
            merges.add(line);
        }
        if (!bad.isEmpty()) {
            throw new IllegalArgumentException(file + ": merges must be two symbols separated by one space: "
                    + String.join(", ", bad));
        }
        return merges;
    }

    private static JsonObject readObject(Path file) {
        try {
            JsonElement e = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8));
            if (!e.isJsonObject()) throw new IllegalArgumentException(file + ": not a JSON object");
            return e.getAsJsonObject();
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e, e);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    private static JsonObject optionalObject(Path file) {
        return Files.isRegularFile(file) ? readObject(file) : new JsonObject();
    }

    private static JsonObject type(String type) {
        JsonObject o = new JsonObject();
        o.addProperty("type", type);
        return o;
    }

    private static JsonObject sequence(String field, JsonObject... parts) {
        JsonObject o = type("Sequence");
        JsonArray a = new JsonArray();
        for (JsonObject p : parts) a.add(p);
        o.add(field, a);
        return o;
    }

    private static JsonObject regex(String pattern) {
        JsonObject o = new JsonObject();
        o.addProperty("Regex", pattern);
        return o;
    }

    private static JsonObject replace() {
        JsonObject o = type("Replace");
        o.add("pattern", regex("\\s+"));
        o.addProperty("content", " ");
        return o;
    }

    private static JsonArray pair(String token, int id) {
        JsonArray a = new JsonArray();
        a.add(token);
        a.add(id);
        return a;
    }
}
