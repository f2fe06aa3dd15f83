package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RealPathsTest {
    @Test
    void aLinkToAnOutputDirectoryAndADotDotPathAreTheSameOutput(@TempDir Path tmp) throws Exception {
        Path out = Files.createDirectories(tmp.resolve("runs/a"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), out);
        assertTrue(RealPaths.same(out.toString(), link.toString()));
        assertTrue(RealPaths.same(out.toString(), tmp.resolve("runs/b/../a").toString()));
        assertTrue(RealPaths.same(out.resolve("sub").toString(), link.resolve("sub").toString()), "below a link, not yet made");
        assertFalse(RealPaths.same(out.toString(), tmp.resolve("runs/b").toString()));
        Path dangling = Files.createSymbolicLink(tmp.resolve("later"), tmp.resolve("runs/c"));
        assertTrue(RealPaths.same(tmp.resolve("runs/c").toString(), dangling.toString()), "a link to a directory not made yet");
    }
}
