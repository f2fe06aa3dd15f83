package fastflux.pipeline.t5;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * FLUX.1's T5 tokenization, as diffusers calls {@code T5TokenizerFast}: the SentencePiece pieces of
 * {@code tokenizer.json} (through Hugging Face tokenizers), truncated to {@code length - 1}, then {@code </s>}, padded
 * with {@code <pad>} to {@code length}. No attention mask: FLUX attends to the padding.
 */
public final class T5Tokenizer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(T5Tokenizer.class);

    private final HuggingFaceTokenizer tokenizer;
    private final Path source;
    private final int length;
    private final long padId;
    private final long eosId;

    private T5Tokenizer(HuggingFaceTokenizer tokenizer, Path source, int length, long padId, long eosId) {
        this.tokenizer = tokenizer;
        this.source = source;
        this.length = length;
        this.padId = padId;
        this.eosId = eosId;
    }

    /**
     * Reads {@code dir/tokenizer.json} and {@code dir/tokenizer_config.json} (a {@code tokenizer_2} folder). Every
     * prompt becomes {@code min(maxSequenceLength, model_max_length)} ids.
     */
    public static T5Tokenizer load(Path dir, int maxSequenceLength) {
        Path json = dir.resolve("tokenizer.json");
        Path configFile = dir.resolve("tokenizer_config.json");
        JsonObject config = readObject(configFile);
        JsonObject tokenizerJson = readObject(json);
        String eosToken = tokenString(config, "eos_token", "</s>", configFile);
        String padToken = tokenString(config, "pad_token", "<pad>", configFile);
        long eosId = addedTokenId(tokenizerJson, eosToken, json);
        long padId = addedTokenId(tokenizerJson, padToken, json);
        int length = maxSequenceLength;
        if (config.has("model_max_length")) {
            JsonElement m = config.get("model_max_length");
            if (!m.isJsonPrimitive() || !m.getAsJsonPrimitive().isNumber()) {
                throw new IllegalArgumentException(configFile + ": \"model_max_length\" must be a number, got " + m);
            }
            // Tokenizers without a limit store a huge float here (1e30), which caps nothing.
            double cap = m.getAsDouble();
            if (cap < length) {
                log.warn("T5 sequence length {} is capped to model_max_length {} of {}", length, (int) cap, configFile);
                length = (int) cap;
            }
        }
        if (length < 2) {
            throw new IllegalArgumentException("T5 sequence length must be at least 2 (a piece and </s>), got " + length);
        }
        try {
            // A file path, never a name: DJL would otherwise try to download the tokenizer.
            HuggingFaceTokenizer hf = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(json)
                    .optAddSpecialTokens(true)
                    .optTruncation(true)
                    .optMaxLength(length)
                    .optPadToMaxLength()
                    .optWithOverflowingTokens(true)
                    .build();
            return new T5Tokenizer(hf, json, length, padId, eosId);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException(json + ": cannot load the T5 tokenizer: " + e.getMessage(), e);
        }
    }

    private static JsonObject readObject(Path file) {
        try (Reader r = Files.newBufferedReader(file)) {
            JsonElement e = JsonParser.parseReader(r);
            if (!e.isJsonObject()) throw new IllegalArgumentException(file + ": not a JSON object");
            return e.getAsJsonObject();
        } catch (IOException | JsonParseException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    // The token may be a string or an AddedToken object ({"content": ...}).
    private static String tokenString(JsonObject config, String field, String dflt, Path file) {
        if (!config.has(field) || config.get(field).isJsonNull()) return dflt;
        JsonElement e = config.get(field);
        if (e.isJsonPrimitive() && e.getAsJsonPrimitive().isString()) return e.getAsString();
        if (e.isJsonObject() && e.getAsJsonObject().has("content")) return e.getAsJsonObject().get("content").getAsString();
        throw new IllegalArgumentException(file + ": \"" + field + "\" is not a token: " + e);
    }

    private static long addedTokenId(JsonObject tokenizerJson, String token, Path file) {
        if (tokenizerJson.has("added_tokens") && tokenizerJson.get("added_tokens").isJsonArray()) {
            for (JsonElement e : tokenizerJson.getAsJsonArray("added_tokens")) {
                JsonObject t = e.getAsJsonObject();
                if (token.equals(t.get("content").getAsString())) return t.get("id").getAsLong();
            }
        }
        throw new IllegalArgumentException(file + ": the special token " + token + " is not among its added_tokens");
    }

    /** Ids per prompt, after truncation and padding. */
    public int length() {
        return length;
    }

    public long padId() {
        return padId;
    }

    public long eosId() {
        return eosId;
    }

    /**
     * The ids of one prompt: pieces, {@code </s>}, padding, {@link #length()} in all. A longer prompt is truncated
     * (its pieces beyond {@code length - 1} are dropped) and a warning names what was cut.
     */
    public long[] encode(String prompt) {
        Encoding enc = tokenizer.encode(prompt);
        long[] ids = enc.getIds();
        int last = lastReal(enc);
        if (ids.length != length || last < 0) {
            throw new IllegalStateException(source + ": encoded " + ids.length + " ids with " + (last + 1)
                    + " unpadded, expected " + length + " ending in </s>");
        }
        if (ids[last] != eosId) {
            throw new IllegalStateException(source + ": the tokenizer did not end the prompt with id " + eosId
                    + " (got " + Arrays.toString(ids) + ")");
        }
        for (int i = last + 1; i < ids.length; i++) {
            if (ids[i] != padId) {
                throw new IllegalStateException(source + ": the tokenizer padded with id " + ids[i] + ", not " + padId);
            }
        }
        if (enc.exceedMaxLength()) warnTruncated(prompt, enc);
        return ids;
    }

    /** Whether {@code prompt} has more pieces than fit before {@code </s>} (encoding it would cut its end). */
    public boolean truncates(String prompt) {
        return tokenizer.encode(prompt).exceedMaxLength();
    }

    /** The ids of each prompt, encoded one at a time (so a prompt's ids do not depend on the others). */
    // -> [prompts.size()][length]
    public long[][] encode(List<String> prompts) {
        long[][] out = new long[prompts.size()][];
        for (int i = 0; i < out.length; i++) out[i] = encode(prompts.get(i));
        return out;
    }

    private static int lastReal(Encoding enc) {
        long[] mask = enc.getAttentionMask();
        for (int i = mask.length - 1; i >= 0; i--) if (mask[i] != 0) return i;
        return -1;
    }

    // As diffusers does: name the text that the model will not see.
    private void warnTruncated(String prompt, Encoding enc) {
        StringBuilder removed = new StringBuilder();
        for (Encoding o : enc.getOverflowing()) {
            if (removed.length() > 0) removed.append(' ');
            removed.append(tokenizer.decode(o.getIds(), true));
        }
        log.warn("T5 prompt truncated to {} tokens and </s>; the model will not see: \"{}\"", length - 1, removed);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
