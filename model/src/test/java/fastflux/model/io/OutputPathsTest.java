package fastflux.model.io;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OutputPathsTest {
    @Test
    void aMissingDirectoryIsMadeAndChecked(@TempDir Path tmp) {
        Path dir = tmp.resolve("a/b");
        assertEquals(dir, OutputPaths.requireWritableDir(dir, "--out"));
        assertTrue(Files.isDirectory(dir));
    }

    @Test
    void anOutputUnderProcNamesTheFileSystemNotAMissingFile() {
        Assumptions.assumeTrue(Files.isDirectory(Path.of("/proc/self")), "a Linux /proc");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OutputPaths.requireWritableDir(Path.of("/proc/fastflux-out/x"), "--out"));
        assertTrue(e.getMessage().contains("/proc does not take new directories (a proc file system)"), e.getMessage());
        assertFalse(e.getMessage().contains("no such file"), e.getMessage());
    }

    @Test
    void aFileInTheWayIsNamed(@TempDir Path tmp) throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OutputPaths.requireWritableDir(file.resolve("sub"), "--out"));
        assertTrue(e.getMessage().startsWith("--out " + file.resolve("sub") + " cannot be written"), e.getMessage());
    }
}
