package fastflux.cli;

import java.util.Set;

/** One subcommand of {@code fastflux}. */
public interface Command {
    String name();

    /** One line for {@code fastflux --help}. */
    String summary();

    /** The full usage text for {@code fastflux NAME --help}. */
    String usage();

    /** Options that take no value. */
    default Set<String> flags() {
        return Set.of();
    }

    int run(Args args) throws Exception;
}
