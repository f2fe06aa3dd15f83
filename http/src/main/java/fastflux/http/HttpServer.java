package fastflux.http;

import com.typesafe.config.Config;
import fastflux.actors.NodeSupervisor;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.ConnectionContext;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.ServerBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP server of a daemon: {@link HttpApi}'s routes bound on {@code fastflux.http.host:port}, over HTTPS with
 * the daemon's own key store when off loopback, unbound by the system's coordinated shutdown (after the running
 * job's phase has checkpointed).
 */
public final class HttpServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HttpServer.class);

    private final ServerBinding binding;
    private final ApiMetrics metrics;
    private final String url;

    private HttpServer(ServerBinding binding, ApiMetrics metrics, String url) {
        this.binding = binding;
        this.metrics = metrics;
        this.url = url;
    }

    /**
     * Starts the API of {@code system}'s node with {@code c}'s settings ({@link HttpSettings#of}); null when
     * {@code fastflux.http.enabled = off}.
     *
     * @throws IllegalArgumentException when a setting is missing (TLS, tokens off loopback) or the port is taken
     */
    public static HttpServer start(ActorSystem<NodeSupervisor.Command> system, Config c) {
        HttpSettings s = HttpSettings.of(c);
        if (!s.enabled()) return null;
        ApiMetrics metrics = new ApiMetrics();
        ServerBuilder b = Http.get(system).newServerAt(s.host(), s.port());
        if (s.tls()) b = b.enableHttps(ConnectionContext.httpsServer(sslContext(s)));
        ServerBinding binding;
        try {
            binding = b.bind(new HttpApi(system, s, metrics).route()).toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            metrics.close();
            Throwable cause = e instanceof java.util.concurrent.ExecutionException ? e.getCause() : e;
            throw new IllegalArgumentException("the HTTP API cannot listen on " + s.host() + ":" + s.port() + " (" + cause.getMessage()
                    + "); choose another with fastflux.http.port (0: any free port)");
        }
        binding.addToCoordinatedShutdown(Duration.ofSeconds(5), system);
        system.getWhenTerminated().thenRun(metrics::close);
        String host = s.host().contains(":") ? "[" + s.host() + "]" : s.host();
        String url = (s.tls() ? "https" : "http") + "://" + host + ":" + binding.localAddress().getPort() + "/";
        LOG.info("fastflux HTTP API at {} ({}; {})", url, s.tls() ? "HTTPS" : "plain HTTP, loopback only",
                s.auth() ? s.tokens().size() + " bearer token(s)" : "no token needed on loopback");
        system.tell(new NodeSupervisor.ApiAt(url)); // what this node tells a fleet member that relays a job's files
        return new HttpServer(binding, metrics, url);
    }

    /**
     * The settings of {@code c}, checked before the daemon starts: one line naming a missing TLS or token setting,
     * or a port that is taken (instead of Pekko's page of bind failures later).
     */
    public static HttpSettings check(Config c) {
        HttpSettings s = HttpSettings.of(c);
        if (!s.enabled() || s.port() == 0) return s;
        try (java.net.ServerSocket probe = new java.net.ServerSocket()) {
            probe.bind(new java.net.InetSocketAddress(s.host(), s.port()));
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("the HTTP API cannot listen on " + s.host() + ":" + s.port() + " (" + e.getMessage()
                    + "): another daemon may be there; choose another with fastflux.http.port (0: any free port)");
        }
        return s;
    }

    /** The API's base URL, e.g. {@code http://127.0.0.1:8080/}, with the port actually bound. */
    public String url() {
        return url;
    }

    public int port() {
        return binding.localAddress().getPort();
    }

    /** The server's own keys: the daemon's PKCS12 key store (its password is also the key's). */
    static SSLContext sslContext(HttpSettings s) {
        Path p = Path.of(s.keyStore());
        if (!Files.isRegularFile(p)) throw new IllegalArgumentException("fastflux.daemon.key-store = " + p + " does not exist");
        try (InputStream in = Files.newInputStream(p)) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(in, s.keyStorePassword().toCharArray());
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, s.keyStorePassword().toCharArray());
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), null, null);
            return ctx;
        } catch (java.io.IOException | java.security.GeneralSecurityException e) {
            throw new IllegalArgumentException("fastflux.daemon.key-store = " + p + " cannot be read as a PKCS12 key store: " + e.getMessage());
        }
    }

    /** Unbinds now (the coordinated shutdown does it otherwise). */
    @Override
    public void close() {
        try {
            binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            // going down anyway
        }
        metrics.close();
    }
}
