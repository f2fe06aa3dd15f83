package fastflux.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * How the remoting port is protected. Daemons and their clients speak Pekko Artery; whenever that port can be
 * reached from another machine it is mutual TLS ({@code tls-tcp}): every peer, daemon or client, shows a
 * certificate signed by the fleet's CA ({@link Certificates}) and trusts nothing else. Plain TCP is allowed on
 * loopback only. The settings, all under {@code fastflux.daemon} (reference.conf):
 *
 * <ul>
 *   <li>{@code tls} (auto): {@code auto}, TLS whenever {@code host} (or {@code pekko.remote.artery.bind.hostname})
 *       is not a loopback address; {@code on}, TLS on loopback too. There is no {@code off}.
 *   <li>{@code key-store} (""): PKCS12 file with this daemon's or client's key and certificate chain.
 *   <li>{@code key-store-password} (env FASTFLUX_TLS_PASSWORD): its password, also the key's.
 *   <li>{@code trust-store} (""): PKCS12 file with the fleet CA's certificate, the only one trusted.
 *   <li>{@code trust-store-password} (env FASTFLUX_TLS_PASSWORD): its password.
 *   <li>{@code tls-hostname-verification} (off): also check that a peer's certificate names the host it was
 *       reached at; needs every certificate, clients' included, to carry its host (docs/daemon.md, "Security").
 * </ul>
 */
public final class Transport {
    private Transport() {}

    static final String PREFIX = "fastflux.daemon.";
    static final List<String> STORE_SETTINGS = List.of("key-store", "key-store-password", "trust-store", "trust-store-password");

    /** Whether the remoting port of this configuration must be TLS; throws on a {@code tls} value it does not know. */
    public static boolean tlsRequired(Config c) {
        String mode = c.getString(PREFIX + "tls").trim().toLowerCase(java.util.Locale.ROOT);
        boolean forced = switch (mode) {
            case "auto" -> false;
            case "on", "true", "yes" -> true;
            default -> throw new IllegalArgumentException(PREFIX + "tls: expected auto or on, got \"" + mode
                    + "\" (plain TCP is only ever used on loopback, with tls = auto)");
        };
        return forced || !loopback(c.getString(PREFIX + "host"))
                || (c.hasPath("pekko.remote.artery.bind.hostname") && !c.getString("pekko.remote.artery.bind.hostname").isEmpty()
                        && !loopback(c.getString("pekko.remote.artery.bind.hostname")));
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

    /**
     * The Pekko settings for {@code c}'s transport: empty for plain TCP on loopback; for TLS, {@code tls-tcp} with
     * mutual authentication, the stores and {@link RefusedConnections.Tls} as the engine provider.
     *
     * @throws IllegalArgumentException naming every missing store setting, or a store that cannot be read
     */
    static Config pekko(Config c) {
        if (!tlsRequired(c)) return ConfigFactory.empty();
        List<String> missing = new ArrayList<>();
        for (String s : STORE_SETTINGS) {
            if (!c.hasPath(PREFIX + s) || c.getString(PREFIX + s).isEmpty()) missing.add(PREFIX + s);
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException(why(c) + ", so its remoting port is mutual TLS, which needs "
                    + String.join(", ", missing) + " (unset). Make a fleet CA and certificates with fastflux.actors.Certificates"
                    + " (`fastflux certs`) or keytool, see docs/daemon.md \"Security\"; the passwords may come from the"
                    + " environment variable FASTFLUX_TLS_PASSWORD");
        }
        String keyStore = c.getString(PREFIX + "key-store");
        String keyPassword = c.getString(PREFIX + "key-store-password");
        String trustStore = c.getString(PREFIX + "trust-store");
        String trustPassword = c.getString(PREFIX + "trust-store-password");
        KeyStore keys = load(PREFIX + "key-store", keyStore, keyPassword);
        KeyStore trusted = load(PREFIX + "trust-store", trustStore, trustPassword);
        if (aliases(keys, true).isEmpty()) {
            throw new IllegalArgumentException(PREFIX + "key-store = " + keyStore + " holds no private key: it must be this"
                    + " daemon's or client's own key store (node-*.p12 or client-*.p12), not a trust store");
        }
        if (aliases(trusted, false).isEmpty()) {
            throw new IllegalArgumentException(PREFIX + "trust-store = " + trustStore + " holds no trusted certificate:"
                    + " it must hold the fleet CA's certificate (truststore.p12)");
        }
        String engine = "pekko.remote.artery.ssl.config-ssl-engine.";
        return ConfigFactory.empty()
                .withValue("pekko.remote.artery.transport", ConfigValueFactory.fromAnyRef("tls-tcp"))
                .withValue("pekko.remote.artery.ssl.ssl-engine-provider", ConfigValueFactory.fromAnyRef(RefusedConnections.Tls.class.getName()))
                .withValue(engine + "key-store", ConfigValueFactory.fromAnyRef(keyStore))
                .withValue(engine + "key-store-password", ConfigValueFactory.fromAnyRef(keyPassword))
                .withValue(engine + "key-password", ConfigValueFactory.fromAnyRef(keyPassword))
                .withValue(engine + "trust-store", ConfigValueFactory.fromAnyRef(trustStore))
                .withValue(engine + "trust-store-password", ConfigValueFactory.fromAnyRef(trustPassword))
                .withValue(engine + "require-mutual-authentication", ConfigValueFactory.fromAnyRef(true))
                .withValue(engine + "hostname-verification",
                        ConfigValueFactory.fromAnyRef(c.getBoolean(PREFIX + "tls-hostname-verification")));
    }

    /**
     * Refuses a final configuration whose Pekko settings undo what {@code fastflux.daemon.tls} asks for, e.g.
     * {@code -Dpekko.remote.artery.transport=tcp} on a daemon that listens on a network address.
     */
    static void check(Config full) {
        if (!tlsRequired(full)) return;
        String transport = full.getString("pekko.remote.artery.transport");
        if (!transport.equals("tls-tcp")) {
            throw new IllegalArgumentException(why(full) + ", so its remoting port must be mutual TLS, but"
                    + " pekko.remote.artery.transport = " + transport + " overrides that; remove that setting");
        }
        if (!full.getBoolean("pekko.remote.artery.ssl.config-ssl-engine.require-mutual-authentication")) {
            throw new IllegalArgumentException(why(full) + ", so its remoting port must be mutual TLS, but"
                    + " pekko.remote.artery.ssl.config-ssl-engine.require-mutual-authentication = off overrides that;"
                    + " remove that setting");
        }
    }

    private static String why(Config c) {
        String host = c.getString(PREFIX + "host");
        if (!loopback(host)) return PREFIX + "host = " + host + " is not a loopback address";
        if (c.hasPath("pekko.remote.artery.bind.hostname") && !c.getString("pekko.remote.artery.bind.hostname").isEmpty()
                && !loopback(c.getString("pekko.remote.artery.bind.hostname"))) {
            return "pekko.remote.artery.bind.hostname = " + c.getString("pekko.remote.artery.bind.hostname") + " is not a loopback address";
        }
        return PREFIX + "tls = on";
    }

    /** Loads a PKCS12 store now, so that a wrong path or password is one line before anything starts. */
    static KeyStore load(String setting, String file, String password) {
        Path p = Path.of(file);
        if (!Files.isRegularFile(p)) throw new IllegalArgumentException(setting + " = " + file + " does not exist");
        try (InputStream in = Files.newInputStream(p)) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(in, password.toCharArray());
            return ks;
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalArgumentException(setting + " = " + file + " cannot be read as a PKCS12 store: " + e.getMessage());
        }
    }

    /** The aliases of private-key entries ({@code keys}) or of trusted certificates (not {@code keys}). */
    static List<String> aliases(KeyStore ks, boolean keys) {
        List<String> out = new ArrayList<>();
        try {
            for (String a : Collections.list(ks.aliases())) {
                if (keys ? ks.isKeyEntry(a) : ks.isCertificateEntry(a)) out.add(a);
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
        return out;
    }
}
