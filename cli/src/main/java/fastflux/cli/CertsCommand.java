package fastflux.cli;

import fastflux.actors.Certificates;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code fastflux certs}: a fleet CA with node and client key stores for the daemons' mutual TLS. */
@Command(name = "certs", mixinStandardHelpOptions = true,
        description = {"make a fleet CA, a key store per daemon and per client, and the trust store (PKCS12)",
            "the password comes from FASTFLUX_TLS_PASSWORD or --password-file; existing files are never overwritten (docs/daemon.md, \"Security\")"})
final class CertsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "where the stores go")
    Path out;

    @Option(names = "--node", required = true, split = ",", paramLabel = "HOST",
            description = "a daemon's host name or address, as it listens (repeat or comma-separate)")
    List<String> nodes;

    @Option(names = "--client", split = ",", paramLabel = "NAME", description = "a client's name (repeat or comma-separate)")
    List<String> clients = List.of();

    @Option(names = "--password-file", paramLabel = "FILE",
            description = "read the stores' password from the first line of FILE instead of FASTFLUX_TLS_PASSWORD")
    Path passwordFile;

    @Override
    public Integer call() throws java.io.IOException {
        String password = passwordFile != null ? java.nio.file.Files.readAllLines(passwordFile).stream().findFirst().orElse("")
                : System.getenv("FASTFLUX_TLS_PASSWORD");
        if (password == null || password.length() < 6) {
            throw new IllegalArgumentException("the stores need a password of 6 characters or more: set FASTFLUX_TLS_PASSWORD"
                    + " or give --password-file");
        }
        Certificates.Fleet f = Certificates.makeFleet(out, nodes, clients, password.toCharArray());
        var o = spec.commandLine().getOut();
        o.println("fleet CA " + f.ca() + " (keep it apart; it signs new members), its certificate " + f.caCertificate());
        o.println("trust store (every daemon and client) " + f.trustStore());
        f.nodes().forEach((n, p) -> o.println("daemon " + n + ": " + p));
        f.clients().forEach((n, p) -> o.println("client " + n + ": " + p));
        o.flush();
        return 0;
    }
}
