package fastflux.actors;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

/** What stops a daemon before its actor system starts: one line each. */
class DaemonStartTest {
    @Test
    void aTakenPortIsNamedInOneLine() throws Exception {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            int port = taken.getLocalPort();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Daemon.checkPortFree("127.0.0.1", port));
            assertTrue(e.getMessage().startsWith("cannot listen on 127.0.0.1:" + port) && e.getMessage().contains("--port"),
                    e.getMessage());
        }
        int free;
        try (ServerSocket s = new ServerSocket(0)) {
            free = s.getLocalPort();
        }
        final int port = free;
        assertDoesNotThrow(() -> Daemon.checkPortFree("127.0.0.1", port));
    }
}
