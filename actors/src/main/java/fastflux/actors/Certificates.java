package fastflux.actors;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * A fleet's certificates for mutual TLS on the remoting port ({@link Transport}): a CA of its own, a key store for
 * each daemon (node) and each user (client) with a certificate the CA signed, and the trust store that holds the
 * CA alone. Certificates are signed by the JDK's {@code keytool} (the password reaches it through its
 * environment, never its command line); the stores are PKCS12. docs/daemon.md, "Security", has the same recipe
 * as keytool commands. Files in {@code dir}:
 *
 * <ul>
 *   <li>{@code ca.p12}: the CA's private key. It signs new members: keep it off the fleet's machines.
 *   <li>{@code ca.pem}: the CA's certificate; {@code truststore.p12}: the same, as the trust store of every member.
 *   <li>{@code node-HOST.p12}: a daemon's key store; its certificate names HOST (CN and subject alternative name).
 *   <li>{@code client-NAME.p12}: a user's key store for the client commands (CN=NAME).
 * </ul>
 */
public final class Certificates {
    private Certificates() {}

    /** EC P-256: small, fast, and what TLS 1.3 (Pekko's default protocol) prefers. */
    static final String[] KEY = {"-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA"};
    static final int CA_DAYS = 3650;
    static final int MEMBER_DAYS = 825;
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]*");
    private static final String PASSWORD_ENV = "FASTFLUX_KEYTOOL_PASSWORD";

    /** What {@link #makeFleet} wrote: key stores by node host and by client name. */
    public record Fleet(Path ca, Path caCertificate, Path trustStore, Map<String, Path> nodes, Map<String, Path> clients) {}

    /**
     * A new fleet in {@code dir}: its CA, a key store for each of {@code nodes} (the host names or addresses the
     * daemons listen on) and each of {@code clients} (user names), all under {@code password}. Refuses to
     * overwrite any file, so an existing CA is never replaced.
     */
    public static Fleet makeFleet(Path dir, List<String> nodes, List<String> clients, char[] password) {
        for (String n : nodes) checkName("node", n);
        for (String n : clients) checkName("client", n);
        makeCa(dir, "fastflux fleet CA", password);
        Map<String, Future<Path>> nodeJobs = new LinkedHashMap<>();
        Map<String, Future<Path>> clientJobs = new LinkedHashMap<>();
        // Each member is three keytool runs in a row (key, request, signature); the members go side by side.
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, Math.min(4, nodes.size() + clients.size())));
        try {
            for (String n : nodes) nodeJobs.put(n, pool.submit(() -> makeNode(dir, n, password)));
            for (String n : clients) clientJobs.put(n, pool.submit(() -> makeClient(dir, n, password)));
            return new Fleet(dir.resolve("ca.p12"), dir.resolve("ca.pem"), dir.resolve("truststore.p12"), done(nodeJobs), done(clientJobs));
        } finally {
            pool.shutdownNow();
        }
    }

    private static Map<String, Path> done(Map<String, Future<Path>> jobs) {
        Map<String, Path> out = new LinkedHashMap<>();
        for (Map.Entry<String, Future<Path>> e : jobs.entrySet()) {
            try {
                out.put(e.getKey(), e.getValue().get());
            } catch (ExecutionException x) {
                throw x.getCause() instanceof RuntimeException r ? r : new IllegalStateException(x.getCause());
            } catch (InterruptedException x) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while making certificates");
            }
        }
        return out;
    }

    /** The CA: {@code ca.p12} (key and self-signed certificate), {@code ca.pem} and {@code truststore.p12}. */
    public static Path makeCa(Path dir, String commonName, char[] password) {
        checkPassword(password);
        Path ca = dir.resolve("ca.p12");
        Path pem = dir.resolve("ca.pem");
        Path trust = dir.resolve("truststore.p12");
        refuseExisting(ca, pem, trust);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<String> args = new ArrayList<>(List.of("-genkeypair", "-alias", "ca"));
        args.addAll(List.of(KEY));
        args.addAll(List.of("-dname", "CN=" + commonName, "-ext", "bc:c=ca:true,pathlen:0", "-ext", "ku:c=keyCertSign,cRLSign",
                "-validity", Integer.toString(CA_DAYS)));
        keytool(password, ca, args);
        privateFile(ca);
        try {
            X509Certificate cert = (X509Certificate) load(ca, password).getCertificate("ca");
            writePem(pem, cert);
            KeyStore ts = KeyStore.getInstance("PKCS12");
            ts.load(null, null);
            ts.setCertificateEntry("fleet-ca", cert);
            store(ts, trust, password);
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot write " + trust + ": " + e.getMessage(), e);
        }
        return ca;
    }

    /** A daemon's key store {@code node-HOST.p12}, signed by the CA in {@code dir}; its certificate names {@code host}. */
    public static Path makeNode(Path dir, String host, char[] password) {
        checkName("node", host);
        String san = (host.matches("[0-9.]+") || host.contains(":") ? "ip:" : "dns:") + host;
        return makeMember(dir, "node-" + host + ".p12", "CN=" + host + ", OU=fastflux node", san, password);
    }

    /** A user's key store {@code client-NAME.p12} for the client commands, signed by the CA in {@code dir}. */
    public static Path makeClient(Path dir, String name, char[] password) {
        checkName("client", name);
        return makeMember(dir, "client-" + name + ".p12", "CN=" + name + ", OU=fastflux client", null, password);
    }

    private static Path makeMember(Path dir, String file, String dname, String san, char[] password) {
        checkPassword(password);
        Path ca = dir.resolve("ca.p12");
        if (!Files.isRegularFile(ca)) throw new IllegalArgumentException("no CA in " + dir + " (ca.p12): make the fleet first");
        Path out = dir.resolve(file);
        Path fresh = dir.resolve(file + ".new");
        Path request = dir.resolve(file + ".csr");
        Path signed = dir.resolve(file + ".pem");
        refuseExisting(out, fresh, request, signed);
        try {
            List<String> gen = new ArrayList<>(List.of("-genkeypair", "-alias", "member"));
            gen.addAll(List.of(KEY));
            gen.addAll(List.of("-dname", dname, "-validity", Integer.toString(MEMBER_DAYS)));
            keytool(password, fresh, gen);
            keytool(password, fresh, List.of("-certreq", "-alias", "member", "-file", request.toString()));
            // Every member is both a TLS server (its own port) and a TLS client (it connects out): both usages.
            List<String> sign = new ArrayList<>(List.of("-gencert", "-alias", "ca", "-infile", request.toString(),
                    "-outfile", signed.toString(), "-rfc", "-validity", Integer.toString(MEMBER_DAYS),
                    "-ext", "ku:c=digitalSignature", "-ext", "eku=serverAuth,clientAuth"));
            if (san != null) sign.addAll(List.of("-ext", "san=" + san));
            keytool(password, ca, sign);
            Certificate caCert = load(ca, password).getCertificate("ca");
            Key key = load(fresh, password).getKey("member", password);
            Certificate cert;
            try (InputStream in = Files.newInputStream(signed)) {
                cert = CertificateFactory.getInstance("X.509").generateCertificate(in);
            }
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry(file.substring(0, file.length() - ".p12".length()), key, password, new Certificate[] {cert, caCert});
            store(ks, out, password);
            return out;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot write " + out + ": " + e.getMessage(), e);
        } finally {
            for (Path p : new Path[] {fresh, request, signed}) {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    // a leftover temp file is named by the next run's refusal
                }
            }
        }
    }

    /** Runs {@code keytool ARGS -keystore STORE -storetype PKCS12 -storepass:env ...}; its output is the error. */
    static void keytool(char[] password, Path store, List<String> args) {
        Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
        if (!Files.isExecutable(keytool)) throw new IllegalStateException("no keytool in this JDK (" + keytool + ")");
        List<String> cmd = new ArrayList<>(List.of(keytool.toString()));
        cmd.addAll(args);
        cmd.addAll(List.of("-keystore", store.toString(), "-storetype", "PKCS12", "-storepass:env", PASSWORD_ENV, "-noprompt"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put(PASSWORD_ENV, new String(password));
        try {
            Process p = pb.start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(2, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IllegalStateException("keytool " + args.get(0) + " did not finish within 2 minutes");
            }
            if (p.exitValue() != 0) throw new IllegalStateException("keytool " + args.get(0) + " failed: " + out);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + keytool, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running keytool");
        }
    }

    static KeyStore load(Path file, char[] password) {
        try (InputStream in = Files.newInputStream(file)) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(in, password);
            return ks;
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalArgumentException(file + " cannot be read as a PKCS12 store: " + e.getMessage(), e);
        }
    }

    private static void store(KeyStore ks, Path file, char[] password) throws IOException, GeneralSecurityException {
        try (OutputStream out = Files.newOutputStream(file, java.nio.file.StandardOpenOption.CREATE_NEW)) {
            ks.store(out, password);
        }
        privateFile(file);
    }

    /** Owner-only: a key store is as secret as its password is weak. */
    private static void privateFile(Path file) {
        try {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException | IOException e) {
            // not a POSIX file system: its own permissions apply
        }
    }

    private static void writePem(Path file, X509Certificate cert) {
        try {
            String body = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(cert.getEncoded());
            Files.writeString(file, "-----BEGIN CERTIFICATE-----\n" + body + "\n-----END CERTIFICATE-----\n",
                    java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE);
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    private static void refuseExisting(Path... files) {
        for (Path f : files) {
            if (Files.exists(f)) {
                throw new IllegalArgumentException(f + " already exists: remove it or choose another directory"
                        + " (certificates are never overwritten)");
            }
        }
    }

    private static void checkName(String kind, String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException(kind + " name \"" + name + "\": expected letters, digits and . _ : - (a host name or"
                    + " address for a node, a user name for a client)");
        }
    }

    /** keytool's own minimum. */
    private static void checkPassword(char[] password) {
        if (password == null || password.length < 6) throw new IllegalArgumentException("the key store password must have at least 6 characters");
    }
}
