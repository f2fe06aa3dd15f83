package fastflux.cli;

import fastflux.http.Tokens;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code fastflux token}: a bearer token for the daemon's HTTP API and the configuration line that admits it. */
@Command(name = "token", mixinStandardHelpOptions = true,
        description = {"make a bearer token for the daemon's HTTP API (docs/http-api.md)",
            "Prints the token (give it to its user; it is not stored) and the HOCON entry to add to fastflux.http.tokens, "
                    + "which holds only the token's SHA-256."})
final class TokenCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "NAME", description = "who holds the token; the audit log names control actions by it")
    String name;

    @Option(names = "--role", paramLabel = "ROLE", defaultValue = "read",
            description = "read (GET routes) or control (also submit, pause, resume, cancel); default ${DEFAULT-VALUE}")
    String role;

    @Override
    public Integer call() {
        Tokens.Role r = switch (role) {
            case "read" -> Tokens.Role.READ;
            case "control" -> Tokens.Role.CONTROL;
            default -> throw new UsageException("--role must be read or control, got '" + role + "'");
        };
        Tokens.Made t = Tokens.make(name, r);
        var o = spec.commandLine().getOut();
        o.println("token: " + t.token());
        o.println("add to fastflux.http.tokens in the daemon's configuration:");
        o.println("  " + t.hocon());
        o.println("use it as: curl -H \"Authorization: Bearer " + t.token() + "\" https://HOST:8080/api/v1/jobs");
        o.flush();
        return 0;
    }
}
