package fastflux.actors;

import static org.junit.jupiter.api.Assertions.*;

import com.typesafe.config.ConfigFactory;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Every wire message round-trips through the configured serializer; nothing else gets through. */
class KryoSerializerTest {
    static final ActorTestKit kit = ActorTestKit.create("kryo-test",
            Daemon.config(null, ConfigFactory.parseString("fastflux.daemon.port = 0")));

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    static Serialization serialization() {
        return SerializationExtension.get(Adapter.toClassic(kit.system()));
    }

    Object roundTrip(Object o) {
        Serializer s = serialization().findSerializerFor(o);
        assertEquals(KryoSerializer.IDENTIFIER, s.identifier(), o.getClass() + " is bound to fastflux's Kryo");
        return serialization().deserialize(s.toBinary(o), s.identifier(), "").get();
    }

    @Test
    void everyWireMessageRoundTrips() {
        TestProbe<Protocol.Reply> replies = kit.createTestProbe();
        TestProbe<Protocol.StatusReply> status = kit.createTestProbe();
        TestProbe<Protocol.WatchEvent> watcher = kit.createTestProbe();
        TestProbe<WatcherRelay.Command> relay = kit.createTestProbe();
        JobSpec spec = JobSpec.of(java.nio.file.Path.of("/m"), java.nio.file.Path.of("/o"), 0.2)
                .with(fastflux.pruning.PruneOptions.LORA_RANK, 8).with(fastflux.pruning.PruneOptions.LORA_ALPHA, 8f);
        Protocol.Progress p = new Protocol.Progress("job-0001", JobState.RUNNING, "sandwich", "single_blocks.3", 5, 150, "loss 0.1",
                1, 4, 12.5, Double.NaN, 42);
        Object[] messages = {
                spec,
                new NodeSupervisor.Submit(spec, replies.getRef()),
                new NodeSupervisor.GetStatus("", status.getRef()),
                new NodeSupervisor.Pause("job-0001", replies.getRef()),
                new NodeSupervisor.Resume("job-0001", replies.getRef()),
                new NodeSupervisor.Cancel("job-0001", replies.getRef()),
                new NodeSupervisor.Watch("job-0001", watcher.getRef(), replies.getRef()),
                new Protocol.Reply(false, null, "no job"),
                p,
                new Protocol.WatchEvent(p, relay.getRef()),
                new WatcherRelay.Ack(),
                new NodeSupervisor.Place(spec, replies.getRef()),
                new Protocol.Progress("job-0001", JobState.RUNNING, "sandwich", "single_blocks.3", 1, 4, "width 3", 1, 4, 12.5,
                        Double.NaN, 43, new Protocol.LossPoint("single_blocks.3", 7, 24, 1.5e-5, Double.NaN)),
                new NodeSupervisor.GetSpec("job-0001", kit.<NodeSupervisor.SpecReply>createTestProbe().getRef()),
                new NodeSupervisor.SpecReply("job-0001", spec),
                new NodeSupervisor.GetHistory("job-0001", kit.<Protocol.HistoryReply>createTestProbe().getRef()),
                new NodeSupervisor.GetLiveLosses("job-0001", kit.<Protocol.LiveLosses>createTestProbe().getRef()),
                new NodeSupervisor.GetApi(kit.<Protocol.ApiAddress>createTestProbe().getRef()),
                new Protocol.ApiAddress("http://127.0.0.1:8080/"),
        };
        for (Object m : messages) assertEquals(m, roundTrip(m), m.getClass().getSimpleName());
        Protocol.JobInfo info = new Protocol.JobInfo("job-0001", JobState.DONE, "/m", "/o", "", "", 2, 2, "", Double.NaN, null);
        Protocol.StatusReply back = (Protocol.StatusReply) roundTrip(new Protocol.StatusReply(new Protocol.JobInfo[] {info}));
        assertEquals(info, back.jobs()[0]);
        TestProbe<Protocol.FleetStatusReply> fleet = kit.createTestProbe();
        var ask = (NodeSupervisor.GetFleetStatus) roundTrip(new NodeSupervisor.GetFleetStatus(fleet.getRef()));
        assertEquals(fleet.getRef(), ask.replyTo());
        Protocol.FleetStatusReply f = (Protocol.FleetStatusReply) roundTrip(new Protocol.FleetStatusReply(
                new Protocol.NodeStatus[] {new Protocol.NodeStatus("10.0.0.2:25520", new Protocol.JobInfo[] {info})},
                new String[] {"10.0.0.3:25520 (unreachable)"}));
        assertEquals("10.0.0.2:25520", f.nodes()[0].node());
        assertEquals(info, f.nodes()[0].jobs()[0]);
        assertArrayEquals(new String[] {"10.0.0.3:25520 (unreachable)"}, f.unanswered());
        TestProbe<Protocol.ProbeReply> probes = kit.createTestProbe();
        var pb = (NodeSupervisor.ProbeBlocks) roundTrip(new NodeSupervisor.ProbeBlocks(spec,
                new String[] {"double_blocks.1", "single_blocks.0"}, "14913800:00ff", probes.getRef()));
        assertEquals(spec, pb.spec());
        assertArrayEquals(new String[] {"double_blocks.1", "single_blocks.0"}, pb.blocks());
        assertEquals(probes.getRef(), pb.replyTo());
        var pr = (Protocol.ProbeReply) roundTrip(new Protocol.ProbeReply("10.0.0.2:25520", new String[] {"double_blocks.1"},
                new double[][] {{0.125, 0.5}}, null));
        assertArrayEquals(new double[] {0.125, 0.5}, pr.values()[0]);
        assertEquals("busy: running job-0002", ((Protocol.ProbeReply) roundTrip(new Protocol.ProbeReply("n", null, null,
                "busy: running job-0002"))).error());
    }

    @Test
    void aJobStateCrossesTheWireAsItsWord() {
        for (JobState s : JobState.values()) {
            Protocol.Progress p = new Protocol.Progress("job-0007", s, "", "", 0, 0, "", 0, 0, 0, Double.NaN, 1);
            Protocol.Progress back = (Protocol.Progress) roundTrip(p);
            assertSame(s, back.state());
            assertEquals(s.isTerminal(), back.terminal());
        }
        KryoSerializer k = (KryoSerializer) serialization().serializerByIdentity().get(KryoSerializer.IDENTIFIER).get();
        byte[] bytes = k.toBinary(new Protocol.Progress("job-0007", JobState.PAUSED, "", "", 0, 0, "", 0, 0, 0, 0, 1));
        String text = new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1);
        // Kryo marks a string's last character by its high bit: "pause" then 'd' | 0x80
        assertTrue(text.contains("pause" + (char) ('d' | 0x80)), "the word, not an ordinal");
        byte[] unknown = text.replace("pause" + (char) ('d' | 0x80), "pausa" + (char) ('d' | 0x80))
                .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> k.fromBinaryJava(unknown, null));
        assertTrue(e.getMessage().contains("unknown job state 'pausad'"), e.getMessage());
        // Kryo writes 1 before a present value and 0 for an absent one
        byte[] stateless = text.replace("\u0001pause" + (char) ('d' | 0x80), "\u0000").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        assertEquals(bytes.length - 6, stateless.length);
        e = assertThrows(IllegalArgumentException.class, () -> k.fromBinaryJava(stateless, null));
        assertTrue(e.getMessage().contains("a job's state"), e.getMessage());
    }

    @Test
    void aMessageWithoutItsReplyToIsRefusedOnArrival() {
        KryoSerializer k = (KryoSerializer) serialization().serializerByIdentity().get(KryoSerializer.IDENTIFIER).get();
        byte[] pause = k.toBinary(new NodeSupervisor.Pause("job-0001", null));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> k.fromBinaryJava(pause, null));
        assertTrue(e.getMessage().contains("Pause without its replyTo"), e.getMessage());
    }

    @Test
    void garbageAndUnregisteredClassesAreRefusedWithAnException() {
        KryoSerializer k = (KryoSerializer) serialization().serializerByIdentity().get(KryoSerializer.IDENTIFIER).get();
        java.util.Random r = new java.util.Random(3);
        for (int i = 0; i < 200; i++) {
            byte[] b = new byte[1 + r.nextInt(64)];
            r.nextBytes(b);
            // not one of our own class ids (Kryo writes id + 2: 92 for refs, 102.. for REGISTERED): those may decode
            if (b[0] >= 92 && b[0] <= 102 + KryoSerializer.REGISTERED.length) b[0] = 1;
            assertThrows(IllegalArgumentException.class, () -> k.fromBinaryJava(b, null));
        }
        assertThrows(IllegalArgumentException.class, () -> k.fromBinaryJava(new byte[] {101, 0}, null), "unregistered id");
        assertThrows(IllegalArgumentException.class, () -> k.toBinary("not a wire message"));
        record Stranger(int x) implements WireMessage {}
        assertThrows(RuntimeException.class, () -> k.toBinary(new Stranger(1)), "registration is required");
        assertFalse(kit.system().settings().config().getBoolean("pekko.actor.allow-java-serialization"));
    }
}
