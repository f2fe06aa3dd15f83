package fastflux.shapes;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;

/** The dev prompt fixture on the test classpath. */
final class TestPrompts {
    private TestPrompts() {}

    static Path devFile() {
        try {
            return Path.of(TestPrompts.class.getResource("/shapes-prompts-dev.tsv").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static List<Prompt> dev() {
        try {
            return PromptFile.read(devFile());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
