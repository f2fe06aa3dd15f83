package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** A watcher that never acknowledges holds at most its window; the rest is conflated to the newest snapshot. */
class WatcherRelayTest {
    static final ActorTestKit kit = ActorTestKit.create("relay-test",
            com.typesafe.config.ConfigFactory.parseString("pekko.actor.provider = local"));

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    static Protocol.Progress progress(long seq, JobState state) {
        return new Protocol.Progress("job-0001", state, "sandwich", "single_blocks.0", seq, 1000, "loss", 0, 2, seq, 1.0, seq);
    }

    @Test
    void aSlowWatcherGetsAtMostItsWindowThenOnlyTheNewestSnapshot() {
        TestProbe<Protocol.WatchEvent> watcher = kit.createTestProbe();
        ActorRef<WatcherRelay.Command> relay = kit.spawn(WatcherRelay.create(watcher.getRef(), 2, progress(0, JobState.RUNNING)));
        // The job publishes 1000 snapshots without ever waiting.
        for (int i = 1; i <= 1000; i++) relay.tell(new WatcherRelay.Update(progress(i, JobState.RUNNING)));
        Protocol.WatchEvent first = watcher.receiveMessage();
        Protocol.WatchEvent second = watcher.receiveMessage();
        assertEquals(0, first.progress().seq());
        assertEquals(1, second.progress().seq());
        watcher.expectNoMessage(Duration.ofMillis(200)); // window full: nothing more until an ack
        first.ackTo().tell(new WatcherRelay.Ack());
        assertEquals(1000, watcher.receiveMessage().progress().seq(), "conflated to the newest");
        relay.tell(new WatcherRelay.Update(progress(1001, JobState.DONE)));
        second.ackTo().tell(new WatcherRelay.Ack());
        assertEquals(JobState.DONE, watcher.receiveMessage().progress().state());
        watcher.expectTerminated(relay);
    }

    @Test
    void aVanishedWatcherEndsItsRelay() {
        TestProbe<Protocol.WatchEvent> watcher = kit.createTestProbe();
        ActorRef<WatcherRelay.Command> relay = kit.spawn(WatcherRelay.create(watcher.getRef(), 2, progress(0, JobState.RUNNING)));
        watcher.receiveMessage();
        TestProbe<Object> observer = kit.createTestProbe();
        watcher.stop();
        observer.expectTerminated(relay, Duration.ofSeconds(5));
    }
}
