package fastflux.http;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import fastflux.actors.Daemon;
import fastflux.actors.NodeSupervisor;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorSystem;

/** A daemon's node in this JVM on a free loopback port, with its HTTP API on another; and a client for it. */
public final class ApiNode implements AutoCloseable {
    public final ActorSystem<NodeSupervisor.Command> system;
    public final HttpServer server;
    public final Config config;
    final HttpClient client;
    private final String base;

    /** {@code settings}: HOCON added to the defaults (fastflux.http.require-auth, tokens ...). */
    public ApiNode(Path tmp, String settings) throws Exception {
        this(tmp, settings, HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(20)).build());
    }

    ApiNode(Path tmp, String settings, HttpClient client) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        config = Daemon.config(null, ConfigFactory.parseString(settings + "\nfastflux.daemon.port = " + port
                + "\nfastflux.daemon.state-dir = \"" + tmp.resolve("state") + "\"\nfastflux.http.port = 0\n"
                + "fastflux.daemon.allowed-roots = [\"" + tmp.toRealPath() + "\"]\n"));
        system = Daemon.start(config);
        try {
            server = HttpServer.start(system, config);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        this.client = client;
        this.base = server.url().substring(0, server.url().length() - 1);
    }

    public HttpResponse<String> get(String path, String token) throws Exception {
        return send(HttpRequest.newBuilder(URI.create(base + path)).GET(), token);
    }

    public HttpResponse<String> post(String path, String contentType, String body, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).POST(HttpRequest.BodyPublishers.ofString(body));
        if (contentType != null) b.header("Content-Type", contentType);
        return send(b, token);
    }

    HttpResponse<String> send(HttpRequest.Builder b, String token) throws Exception {
        if (token != null) b.header("Authorization", "Bearer " + token);
        return client.send(b.timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
    }

    public String base() {
        return base;
    }

    static JsonObject json(HttpResponse<String> r) {
        return JsonParser.parseString(r.body()).getAsJsonObject();
    }

    @Override
    public void close() throws Exception {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(60, java.util.concurrent.TimeUnit.SECONDS);
    }
}
