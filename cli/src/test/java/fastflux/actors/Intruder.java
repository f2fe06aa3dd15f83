package fastflux.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Peers of a daemon on mutual TLS, run as their own process, each its own Pekko system speaking fastflux's
 * protocol: {@code plain} (no TLS at all), {@code no-certificate} (TLS, trusting the fleet CA, but no key of its
 * own), {@code other-ca} (TLS with a certificate of another CA) and the control {@code fleet} (the fleet's client
 * certificate). Each sends its commands every second for {@code seconds} and prints how many replies came back.
 * The intruders send what would change the daemon's state (a job, pause, resume and cancel of job-0001, a status
 * query); the control asks about a job that does not exist, which changes nothing but is answered.
 *
 * <p>Arguments: port, seconds, fleet trust store, fleet client key store, fleet password, other-CA key store,
 * other password, model dir and out dir for the intruders' job.
 */
public final class Intruder {
    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int seconds = Integer.parseInt(args[1]);
        String trust = args[2];
        String fleetKeys = args[3];
        String fleetPassword = args[4];
        String otherKeys = args[5];
        String otherPassword = args[6];
        JobSpec job = TinyJobs.spec(Path.of(args[7]), Path.of(args[8]));

        Config plain = Daemon.config(null, ConfigFactory.parseString("fastflux.daemon.port = 0\npekko.loglevel = WARNING"));
        List<String> names = List.of("plain", "no-certificate", "other-ca", "fleet");
        List<Config> configs = List.of(plain,
                tls(plain, trust, fleetPassword, trust, fleetPassword),
                tls(plain, otherKeys, otherPassword, trust, fleetPassword),
                tls(plain, fleetKeys, fleetPassword, trust, fleetPassword));
        List<CompletableFuture<String>> results = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            Config c = configs.get(i);
            boolean control = name.equals("fleet");
            results.add(CompletableFuture.supplyAsync(() -> name + ": " + replies(c, name, port, seconds, control, job) + " replies"));
        }
        for (CompletableFuture<String> r : results) System.out.println(r.get(seconds + 60L, TimeUnit.SECONDS));
        System.out.flush();
        // A system whose outbound TLS stream was refused can hang in its coordinated shutdown; the counts are printed.
        System.exit(0);
    }

    /** {@code base} on TLS with the given stores, built by hand: {@link Daemon#config} refuses a key store without a key. */
    static Config tls(Config base, String keyStore, String keyPassword, String trustStore, String trustPassword) {
        return ConfigFactory.parseString("pekko.remote.artery { transport = tls-tcp\nssl.config-ssl-engine {\n"
                + "key-store = \"" + keyStore + "\"\nkey-store-password = \"" + keyPassword + "\"\nkey-password = \"" + keyPassword
                + "\"\ntrust-store = \"" + trustStore + "\"\ntrust-store-password = \"" + trustPassword + "\" } }").withFallback(base);
    }

    static int replies(Config c, String name, int port, int seconds, boolean control, JobSpec job) {
        AtomicInteger replies = new AtomicInteger();
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "intruder-" + name, c);
        try {
            ActorRef<Object> inbox = system.systemActorOf(Behaviors.receive(Object.class).onAnyMessage(m -> {
                replies.incrementAndGet();
                return Behaviors.same();
            }).build(), "replies", org.apache.pekko.actor.typed.Props.empty());
            org.apache.pekko.actor.ActorSelection node = system.classicSystem()
                    .actorSelection("pekko://" + Daemon.SYSTEM + "@127.0.0.1:" + port + "/user");
            ActorRef<Protocol.Reply> reply = inbox.narrow();
            ActorRef<Protocol.StatusReply> status = inbox.narrow();
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            while (System.nanoTime() < end && (!control || replies.get() == 0)) {
                String id = control ? "job-9999" : "job-0001";
                List<NodeSupervisor.Command> commands = new ArrayList<>(List.of(new NodeSupervisor.GetStatus(id, status),
                        new NodeSupervisor.Pause(id, reply), new NodeSupervisor.Resume(id, reply), new NodeSupervisor.Cancel(id, reply)));
                if (!control) commands.add(new NodeSupervisor.Submit(job, reply));
                for (NodeSupervisor.Command m : commands) node.tell(m, org.apache.pekko.actor.ActorRef.noSender());
                Thread.sleep(1000);
            }
            if (control) Thread.sleep(1000); // the rest of the control's answers
            return replies.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return replies.get();
        } finally {
            system.terminate();
            try {
                system.getWhenTerminated().toCompletableFuture().get(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                // the process exits anyway
            }
        }
    }
}
