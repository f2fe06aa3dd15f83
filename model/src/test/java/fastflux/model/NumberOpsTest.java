package fastflux.model;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * No class of this module calls a DJL tensor op that takes a Java number ({@code x.mul(2f)}, {@code x.add(1f)},
 * ...): DJL makes the number a from_blob tensor over a direct buffer that the GC frees while autograd may still
 * read it (see {@link Tensors}). The calls are found by their method descriptor in the compiled classes.
 */
public class NumberOpsTest {
    /** The descriptor of NDArray's {@code add/sub/mul/div/...(Number)} overloads, as it appears in a class file. */
    static final byte[] NUMBER_OP = "(Ljava/lang/Number;)Lai/djl/ndarray/NDArray;".getBytes(StandardCharsets.US_ASCII);

    @Test
    void noClassPassesAJavaNumberToADjlTensorOp() throws Exception {
        Path classes = classesDir(Tensors.class);
        assertTrue(Files.isRegularFile(classes.resolve("fastflux/model/Tensors.class")), classes.toString());
        assertEquals(List.of(), offenders(classes), "use Tensors.add/mul/div/addi/muli instead");
    }

    @Test
    void theScanFindsSuchACall() throws Exception {
        Path own = classesDir(NumberOpsTest.class).resolve("fastflux/model/NumberOpsTest$Offender.class");
        assertTrue(contains(Files.readAllBytes(own), NUMBER_OP));
    }

    /** Class files under {@code dir} that reference the number overloads. */
    public static List<String> offenders(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(p -> p.toString().endsWith(".class")).filter(p -> {
                try {
                    return contains(Files.readAllBytes(p), NUMBER_OP);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).map(p -> dir.relativize(p).toString()).sorted().toList();
        }
    }

    public static Path classesDir(Class<?> c) throws URISyntaxException {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    static boolean contains(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return true;
        }
        return false;
    }

    /** What the scan must catch (never run). */
    static final class Offender {
        static ai.djl.ndarray.NDArray twice(ai.djl.ndarray.NDArray x) {
            return x.mul(2f);
        }
    }
}
