package fastflux.http;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The API's settings, {@code fastflux.http} in HOCON (reference.conf documents each), checked as a whole: off
 * loopback the API needs TLS (the daemon's key store) and at least one token, and refuses to start otherwise,
 * naming the missing settings.
 */
public record HttpSettings(boolean enabled, String host, int port, boolean tls, boolean auth, List<Tokens.Entry> tokens,
                           long maxBody, int sseBuffer, Duration sseKeepAlive, Duration askTimeout, String keyStore,
                           String keyStorePassword) {
    static final String PREFIX = "fastflux.http.";

    /**
     * The settings of {@code c} ({@code fastflux.http} and the daemon's key store).
     *
     * @throws IllegalArgumentException naming every missing or malformed setting
     */
    public static HttpSettings of(Config c) {
        Config h = c.getConfig("fastflux.http");
        String host = h.getString("host");
        boolean loopback = loopback(host);
        String tlsMode = h.getString("tls").trim().toLowerCase(Locale.ROOT);
        boolean tls = switch (tlsMode) {
            case "auto" -> !loopback;
            case "on", "true", "yes" -> true;
            default -> throw new IllegalArgumentException(PREFIX + "tls: expected auto or on, got \"" + tlsMode + "\"");
        };
        boolean auth = !loopback || h.getBoolean("require-auth");
        List<Tokens.Entry> tokens;
        try {
            tokens = Tokens.entries(h.getConfigList("tokens"));
        } catch (ConfigException e) {
            throw new IllegalArgumentException(PREFIX + "tokens: " + e.getMessage());
        }
        String keyStore = c.hasPath("fastflux.daemon.key-store") ? c.getString("fastflux.daemon.key-store") : "";
        String password = c.hasPath("fastflux.daemon.key-store-password") ? c.getString("fastflux.daemon.key-store-password") : "";
        int port = h.getInt("port");
        if (port < 0 || port > 65535) throw new IllegalArgumentException(PREFIX + "port: expected 0..65535, got " + port);
        HttpSettings s = new HttpSettings(h.getBoolean("enabled"), host, port, tls, auth, tokens,
                h.getBytes("max-body"), Math.max(1, h.getInt("sse-buffer")), h.getDuration("sse-keep-alive"),
                h.getDuration("ask-timeout"), keyStore, password);
        if (s.enabled()) s.check(loopback);
        return s;
    }

    private void check(boolean loopback) {
        List<String> missing = new ArrayList<>();
        if (tls && keyStore.isEmpty()) missing.add("fastflux.daemon.key-store");
        if (tls && keyStorePassword.isEmpty()) missing.add("fastflux.daemon.key-store-password");
        if (auth && tokens.isEmpty()) missing.add(PREFIX + "tokens");
        if (missing.isEmpty()) return;
        String why = !loopback ? PREFIX + "host = " + host + " is not a loopback address, so the API needs HTTPS and bearer tokens"
                : PREFIX + (tls ? "tls = on" : "require-auth = on") + " asks for " + (tls && auth ? "HTTPS and bearer tokens"
                : tls ? "HTTPS" : "bearer tokens");
        throw new IllegalArgumentException(why + ", but " + String.join(", ", missing) + (missing.size() == 1 ? " is" : " are")
                + " unset (a token: `fastflux token NAME --role control`; a key store: `fastflux certs`; see docs/http-api.md)");
    }

    /** A name that does not resolve counts as reachable from elsewhere: the safe side. */
    static boolean loopback(String host) {
        try {
            for (InetAddress a : InetAddress.getAllByName(host)) if (!a.isLoopbackAddress()) return false;
            return true;
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
