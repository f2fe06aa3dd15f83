package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * No class of this module passes a Java number to a DJL tensor op ({@code x.mul(2f)}): DJL wraps it in a
 * from_blob tensor over a direct buffer the GC frees while autograd may still read it (see
 * {@code fastflux.model.Tensors}; the model module's NumberOpsTest also checks that the scan can fail).
 */
class NumberOpsTest {
    @Test
    void noClassPassesAJavaNumberToADjlTensorOp() throws Exception {
        byte[] numberOp = "(Ljava/lang/Number;)Lai/djl/ndarray/NDArray;".getBytes(StandardCharsets.US_ASCII);
        Path dir = Path.of(SandwichTrainer.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> offenders = new ArrayList<>();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".class"))::iterator) {
                if (indexOf(Files.readAllBytes(p), numberOp) >= 0) offenders.add(dir.relativize(p).toString());
            }
        }
        assertTrue(Files.isRegularFile(dir.resolve("fastflux/pruning/SandwichTrainer.class")), dir.toString());
        assertEquals(List.of(), offenders, "use fastflux.model.Tensors.add/mul/div/addi/muli instead");
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }
}
