package fastflux.http;

import com.typesafe.config.Config;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;

/**
 * Bearer tokens: the configuration holds each token's SHA-256, never the token; a request's token is hashed and
 * compared with every entry in constant time, so neither a token nor its position in the list leaks by timing.
 */
public final class Tokens {
    private Tokens() {}

    /** What a token may do: read (GET) or control (also submit, pause, resume, cancel). */
    public enum Role {
        READ, CONTROL;

        public String word() {
            return name().toLowerCase(Locale.ROOT);
        }

        static Role parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "read" -> READ;
                case "control" -> CONTROL;
                default -> throw new IllegalArgumentException("role must be read or control, got \"" + s + "\"");
            };
        }
    }

    /** One configured token: its name (for the audit log), its role, the SHA-256 of the token (32 bytes). */
    public record Entry(String name, Role role, byte[] sha256) {}

    /** A token and the HOCON line that configures it. */
    public record Made(String token, String hocon) {}

    static List<Entry> entries(List<? extends Config> list) {
        List<Entry> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            Config t = list.get(i);
            String where = "token " + i;
            try {
                String name = t.getString("name");
                where = "token " + name;
                if (name.isBlank()) throw new IllegalArgumentException("an empty name");
                String hex = t.getString("sha256").trim().toLowerCase(Locale.ROOT);
                if (!hex.matches("[0-9a-f]{64}")) throw new IllegalArgumentException("sha256 must be 64 hex digits");
                out.add(new Entry(name, Role.parse(t.getString("role")), HexFormat.of().parseHex(hex)));
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(where + ": " + e.getMessage());
            }
        }
        return List.copyOf(out);
    }

    static byte[] sha256(String token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The entry {@code token} is, or null; every entry is compared, each in constant time. */
    static Entry find(List<Entry> entries, String token) {
        byte[] h = sha256(token);
        Entry found = null;
        for (Entry e : entries) if (MessageDigest.isEqual(e.sha256(), h) & found == null) found = e;
        return found;
    }

    /** A new random token (256 bits, URL-safe) for {@code name} with {@code role}, and its configuration line. */
    public static Made make(String name, Role role) {
        if (!name.matches("[A-Za-z0-9._@-]+")) {
            throw new IllegalArgumentException("a token's name is letters, digits and . _ @ -, got \"" + name + "\"");
        }
        byte[] b = new byte[32];
        new SecureRandom().nextBytes(b);
        String token = "ff_" + java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(b);
        String hocon = "{name = \"" + name + "\", role = " + role.word() + ", sha256 = \"" + HexFormat.of().formatHex(sha256(token)) + "\"}";
        return new Made(token, hocon);
    }
}
