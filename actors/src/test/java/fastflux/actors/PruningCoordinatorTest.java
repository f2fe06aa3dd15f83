package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import fastflux.pruning.JobPhase;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class PruningCoordinatorTest {
    private static final ActorTestKit kit = ActorTestKit.create();

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    @Test
    void aJobResumedFromItsCheckpointReportsThePhaseItRedoesBeforeAnyOther() {
        TestProbe<PruningCoordinator.Event> node = kit.createTestProbe();
        TestProbe<DeviceShard.Command> shard = kit.createTestProbe();
        TestProbe<ActorRef<PruningCoordinator.Command>> self = kit.createTestProbe();
        PruningCoordinator.ShardFactory factory = (spec, coordinator) -> {
            self.getRef().tell(coordinator);
            return Behaviors.monitor(DeviceShard.Command.class, shard.getRef(), Behaviors.ignore());
        };
        kit.spawn(PruningCoordinator.create("job-0001", TinyJobs.spec(Path.of("base"), Path.of("out")), node.getRef(),
                factory, Props.empty()));
        ActorRef<PruningCoordinator.Command> coordinator = self.receiveMessage();
        // the checkpoint holds one of two blocks done and the next one fitted: the sandwich is redone
        coordinator.tell(new PruningCoordinator.ShardReady(new PruningCoordinator.ShardState(null, true, 1, true, 2, false)));
        PruningCoordinator.Progressed p = (PruningCoordinator.Progressed) node.receiveMessage(Duration.ofSeconds(5));
        assertEquals("sandwich", p.phase());
        assertEquals(1, p.blocksDone());
        assertEquals("from the last checkpoint", p.detail());
        DeviceShard.RunPhase run = (DeviceShard.RunPhase) shard.receiveMessage(Duration.ofSeconds(5));
        assertEquals(JobPhase.SANDWICH, run.phase());
    }
}
