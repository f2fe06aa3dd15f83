package fastflux.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.serialization.JSerializer;

/**
 * A hostile peer, run as its own process: it speaks Artery correctly but sends payloads under fastflux's Kryo
 * serializer id that are not Kryo (random bytes), and a message of a class the daemon never registered.
 */
public final class MalformedSender {
    /** Claims fastflux's serializer id and writes whatever the message says. */
    public static final class Liar extends JSerializer {
        public Liar(ExtendedActorSystem system) {}

        public int identifier() { return KryoSerializer.IDENTIFIER; }
        public boolean includeManifest() { return false; }
        public byte[] toBinary(Object o) { return ((Garbage) o).bytes; }
        public Object fromBinaryJava(byte[] bytes, Class<?> manifest) { return new Garbage(bytes); }
    }

    public static final class Garbage {
        final byte[] bytes;

        Garbage(byte[] bytes) {
            this.bytes = bytes;
        }
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        Config c = Daemon.config(null, ConfigFactory.parseString("fastflux.daemon.port = 0\n"
                + "pekko.actor.serializers.fastflux-kryo = \"fastflux.actors.MalformedSender$Liar\"\n"
                + "pekko.actor.serialization-bindings { \"fastflux.actors.MalformedSender$Garbage\" = fastflux-kryo }\n"));
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "hostile", c);
        org.apache.pekko.actor.ActorRef node = system.classicSystem()
                .actorSelection("pekko://" + Daemon.SYSTEM + "@127.0.0.1:" + port + "/user")
                .resolveOne(Duration.ofSeconds(20)).toCompletableFuture().get();
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < 20; i++) {
            byte[] b = new byte[1 + r.nextInt(200)];
            r.nextBytes(b);
            if (i % 4 == 0) b[0] = 1; // a small class id: Kryo's own registrations, then nonsense after it
            node.tell(new Garbage(b), org.apache.pekko.actor.ActorRef.noSender());
        }
        // Kryo class id 99 is not registered on the daemon: "unregistered class" on arrival.
        node.tell(new Garbage(new byte[] {(byte) 101, 0, 0}), org.apache.pekko.actor.ActorRef.noSender());
        Thread.sleep(2000);
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get();
        System.out.println("sent 21 malformed messages");
    }
}
