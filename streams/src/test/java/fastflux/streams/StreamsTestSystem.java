package fastflux.streams;

import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.stream.Materializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** One actor system and materializer per test class, terminated after its tests. */
abstract class StreamsTestSystem {
    static ActorSystem system;
    static Materializer mat;

    @BeforeAll
    static void startSystem() {
        system = ActorSystem.create("streams-test");
        mat = Materializer.matFromSystem(system);
    }

    @AfterAll
    static void stopSystem() {
        system.terminate();
    }
}
