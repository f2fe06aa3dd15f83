package fastflux.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A daemon in its own JVM (`fastflux daemon` from this classpath), on a free loopback port. */
final class DaemonProcess implements AutoCloseable {
    final int port;
    final Path stateDir;
    final Path log;
    private Process process;
    private int starts;
    /** JVM options (-D...) and environment of the daemon's process, and what its clients add to their configuration. */
    private final List<String> options = new ArrayList<>();
    private final java.util.Map<String, String> env = new java.util.HashMap<>();
    private String clientSettings = "";

    DaemonProcess(Path stateDir) throws IOException {
        this.stateDir = stateDir;
        this.log = stateDir.resolveSibling(stateDir.getFileName() + ".log");
        try (ServerSocket s = new ServerSocket(0)) {
            this.port = s.getLocalPort();
        }
    }

    static List<String> java(String mainClass, String... args) {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "-Xmx1g", "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /**
     * This daemon on mutual TLS with {@code keyStore} (its password from the environment, as documented); its
     * clients use {@code clientKeyStore}.
     */
    DaemonProcess tls(Path keyStore, Path trustStore, String password, Path clientKeyStore) {
        options.addAll(List.of("-Dfastflux.daemon.tls=on", "-Dfastflux.daemon.key-store=" + keyStore,
                "-Dfastflux.daemon.trust-store=" + trustStore));
        env.put("FASTFLUX_TLS_PASSWORD", password);
        clientSettings = "fastflux.daemon { tls = on\nkey-store = \"" + clientKeyStore + "\"\ntrust-store = \"" + trustStore
                + "\"\nkey-store-password = \"" + password + "\"\ntrust-store-password = \"" + password + "\" }\n";
        return this;
    }

    /** A JVM option of the daemon's process, e.g. {@code -Dfastflux.daemon.allowed-roots.0=DIR}. */
    DaemonProcess option(String jvmOption) {
        options.add(jvmOption);
        return this;
    }

    /** An environment variable of the daemon's process. */
    DaemonProcess env(String name, String value) {
        env.put(name, value);
        return this;
    }

    Config clientConfig() {
        return Daemon.config(null, ConfigFactory.parseString(clientSettings + "fastflux.daemon.port = " + port));
    }

    /** Starts the daemon and waits until its port accepts connections. */
    void start() throws Exception {
        List<String> cmd = java("fastflux.cli.Main", "daemon", "--port", Integer.toString(port));
        cmd.add(1, "-Dfastflux.daemon.state-dir=" + stateDir);
        // jobs of these tests live wherever the build runs; confinement itself is DaemonConfinementProcessTest's
        if (options.stream().noneMatch(o -> o.startsWith("-Dfastflux.daemon.allowed-roots"))) {
            cmd.add(1, "-Dfastflux.daemon.allowed-roots.0=/");
        }
        // its HTTP API on any free port unless a test names one: daemons of a test share the machine
        if (options.stream().noneMatch(o -> o.startsWith("-Dfastflux.http.port"))) cmd.add(1, "-Dfastflux.http.port=0");
        cmd.addAll(1, options);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().putAll(env);
        Files.writeString(log, "==== start " + (++starts) + "\n", java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        process = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) throw new IllegalStateException("daemon exited with " + process.exitValue() + "; see " + log);
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return;
            } catch (IOException e) {
                Thread.sleep(100);
            }
        }
        throw new IllegalStateException("daemon did not listen within 60 s; see " + log);
    }

    DaemonClient client() {
        return new DaemonClient(clientConfig(), Duration.ofSeconds(20));
    }

    /** kill -9. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGTERM; returns the exit code. */
    int terminate(Duration timeout) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) throw new IllegalStateException("daemon ignored SIGTERM; see " + log);
        return process.exitValue();
    }

    long pid() {
        return process.pid();
    }

    boolean alive() {
        return process != null && process.isAlive();
    }

    String logText() throws IOException {
        return Files.readString(log);
    }

    @Override
    public void close() throws InterruptedException {
        if (alive()) kill();
    }
}
