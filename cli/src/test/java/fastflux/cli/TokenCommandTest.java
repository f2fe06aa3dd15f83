package fastflux.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.typesafe.config.ConfigFactory;
import fastflux.http.HttpSettings;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** {@code fastflux token}: a fresh token and the configuration entry that admits it, holding only its hash. */
class TokenCommandTest {
    @Test
    void printsATokenAndTheEntryWithItsHash() throws Exception {
        MainTest.Outcome r = MainTest.run("token", "alice", "--role", "control");
        assertEquals(0, r.status(), r.err());
        Matcher token = Pattern.compile("(?m)^token: (ff_[A-Za-z0-9_-]{43})$").matcher(r.out());
        assertTrue(token.find(), r.out());
        Matcher entry = Pattern.compile("(?m)^  (\\{name = \"alice\", role = control, sha256 = \"([0-9a-f]{64})\"\\})$").matcher(r.out());
        assertTrue(entry.find(), r.out());
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(token.group(1).getBytes(StandardCharsets.UTF_8)));
        assertEquals(sha, entry.group(2));
        assertFalse(entry.group(1).contains(token.group(1)), "the entry holds no token");
        HttpSettings s = HttpSettings.of(ConfigFactory.parseString("fastflux.http { require-auth = on\ntokens = [" + entry.group(1) + "] }")
                .withFallback(ConfigFactory.defaultReference()));
        assertEquals("alice", s.tokens().get(0).name());
        assertNotEquals(r.out(), MainTest.run("token", "alice", "--role", "control").out(), "a new token each time");
        MainTest.Outcome bad = MainTest.run("token", "bob", "--role", "admin");
        assertEquals(2, bad.status());
        assertTrue(bad.err().contains("--role must be read or control"), bad.err());
    }
}
