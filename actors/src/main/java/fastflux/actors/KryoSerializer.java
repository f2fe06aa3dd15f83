package fastflux.actors;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import com.esotericsoftware.kryo.util.Pool;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.JSerializer;

/**
 * Kryo for every {@link WireMessage}. Registration is required and the list below is the whole wire vocabulary:
 * a class missing from it cannot be sent, and bytes naming anything else are refused on arrival (Pekko logs and
 * drops the message; the daemon keeps serving). Records go through Kryo's RecordSerializer (canonical
 * constructor, so their validation runs), a job through its JSON, typed actor refs through their serialization format.
 */
public final class KryoSerializer extends JSerializer {
    /** Fixed: it is part of the wire format. Pekko reserves 0..40. */
    public static final int IDENTIFIER = 710_421;

    /** The wire vocabulary, in a fixed order: the ids are part of the format. Append only. */
    static final Class<?>[] REGISTERED = {
            JobSpec.class,
            NodeSupervisor.Submit.class,
            NodeSupervisor.GetStatus.class,
            NodeSupervisor.Pause.class,
            NodeSupervisor.Resume.class,
            NodeSupervisor.Cancel.class,
            NodeSupervisor.Watch.class,
            Protocol.Reply.class,
            Protocol.JobInfo.class,
            Protocol.JobInfo[].class,
            Protocol.StatusReply.class,
            Protocol.Progress.class,
            Protocol.WatchEvent.class,
            WatcherRelay.Ack.class,
            NodeSupervisor.Place.class,
            NodeSupervisor.GetFleetStatus.class,
            Protocol.NodeStatus.class,
            Protocol.NodeStatus[].class,
            Protocol.FleetStatusReply.class,
            String[].class,
            NodeSupervisor.ProbeBlocks.class,
            Protocol.ProbeReply.class,
            double[].class,
            double[][].class,
            JobState.class,
            Protocol.LossPoint.class,
            Protocol.LiveLosses.class,
            int[].class,
            NodeSupervisor.GetLiveLosses.class,
            NodeSupervisor.GetSpec.class,
            NodeSupervisor.SpecReply.class,
            NodeSupervisor.GetHistory.class,
            Protocol.HistoryReply.class,
            byte[].class,
            NodeSupervisor.GetApi.class,
            Protocol.ApiAddress.class,
    };

    private final ExtendedActorSystem system;
    private volatile ActorRefResolver resolver;
    private final Pool<Kryo> pool = new Pool<>(true, false, 8) {
        @Override
        protected Kryo create() {
            return newKryo();
        }
    };

    public KryoSerializer(ExtendedActorSystem system) {
        this.system = system;
    }

    Kryo newKryo() {
        Kryo k = new Kryo();
        k.setRegistrationRequired(true);
        k.setReferences(false);
        ActorRefSerializer refs = new ActorRefSerializer();
        k.addDefaultSerializer(ActorRef.class, refs);
        int id = 100;
        for (Class<?> c : REGISTERED) {
            if (c == JobState.class) k.register(c, new JobStateSerializer(), id++);
            else if (c == JobSpec.class) k.register(c, new JobSpecSerializer(), id++);
            else k.register(c, id++);
        }
        // The typed ref implementation; resolved refs come back as the same class.
        k.register(org.apache.pekko.actor.typed.internal.adapter.ActorRefAdapter.class, refs, 90);
        return k;
    }

    /**
     * A job state as its word, as the registry stores it: the wire format then does not depend on the constants'
     * order, and a word this side does not know is refused on arrival.
     */
    private static final class JobStateSerializer extends com.esotericsoftware.kryo.Serializer<JobState> {
        JobStateSerializer() {
            super(false, true);
        }

        @Override
        public void write(Kryo kryo, Output output, JobState state) {
            output.writeString(state.word());
        }

        @Override
        public JobState read(Kryo kryo, Input input, Class<? extends JobState> type) {
            try {
                return JobState.parse(input.readString());
            } catch (IllegalArgumentException e) {
                throw new KryoException(e.getMessage(), e);
            }
        }
    }

    private ActorRefResolver resolver() {
        ActorRefResolver r = resolver;
        if (r == null) resolver = r = ActorRefResolver.get(Adapter.toTyped(system));
        return r;
    }

    private final class ActorRefSerializer extends com.esotericsoftware.kryo.Serializer<ActorRef<?>> {
        @Override
        public void write(Kryo kryo, Output output, ActorRef<?> ref) {
            output.writeString(resolver().toSerializationFormat(ref));
        }

        @Override
        public ActorRef<?> read(Kryo kryo, Input input, Class<? extends ActorRef<?>> type) {
            return resolver().resolveActorRef(input.readString());
        }
    }

    /** A job travels as its JSON ({@link JobSpec#toJson}): read back through the options' own checks. */
    private static final class JobSpecSerializer extends com.esotericsoftware.kryo.Serializer<JobSpec> {
        @Override
        public void write(Kryo kryo, Output output, JobSpec spec) {
            output.writeString(spec.toJson().toString());
        }

        @Override
        public JobSpec read(Kryo kryo, Input input, Class<? extends JobSpec> type) {
            try {
                return JobSpec.fromJson(com.google.gson.JsonParser.parseString(input.readString()).getAsJsonObject());
            } catch (RuntimeException e) {
                throw new KryoException("not a job: " + e.getMessage(), e);
            }
        }
    }

    /**
     * Every actor reference a message carries is there: a handler answers {@code replyTo} without looking, and a
     * null one would crash the daemon's guardian. (Our clients never send one; a hostile or broken peer could.)
     */
    static void requireRefs(Object message) {
        if (!message.getClass().isRecord()) return;
        for (java.lang.reflect.RecordComponent c : message.getClass().getRecordComponents()) {
            if (!ActorRef.class.isAssignableFrom(c.getType())) continue;
            Object v;
            try {
                v = c.getAccessor().invoke(message);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
            if (v == null) {
                throw new IllegalArgumentException(message.getClass().getSimpleName() + " without its " + c.getName());
            }
        }
    }

    @Override
    public int identifier() {
        return IDENTIFIER;
    }

    @Override
    public boolean includeManifest() {
        return false;
    }

    @Override
    public byte[] toBinary(Object o) {
        if (!(o instanceof WireMessage)) throw new IllegalArgumentException("not a WireMessage: " + o.getClass().getName());
        Kryo k = pool.obtain();
        try (Output out = new Output(256, 256 * 1024)) {
            k.writeClassAndObject(out, o);
            return out.toBytes();
        } finally {
            pool.free(k);
        }
    }

    @Override
    public Object fromBinaryJava(byte[] bytes, Class<?> manifest) {
        Kryo k = pool.obtain();
        try (Input in = new Input(bytes)) {
            Object o = k.readClassAndObject(in);
            if (!(o instanceof WireMessage)) throw new IllegalArgumentException("not a WireMessage: " + (o == null ? "null" : o.getClass().getName()));
            requireRefs(o);
            return o;
        } catch (KryoException | IndexOutOfBoundsException | NegativeArraySizeException e) {
            // Pekko's inbound stage logs this and drops the message; the root cause says which field was wrong.
            String why = String.valueOf(e.getMessage());
            Throwable root = e;
            while (root.getCause() != null) root = root.getCause();
            if (root != e && root.getMessage() != null && !why.contains(root.getMessage())) why += " (" + root.getMessage() + ")";
            throw new IllegalArgumentException("malformed fastflux message (" + bytes.length + " bytes): " + why, e);
        } finally {
            pool.free(k);
        }
    }
}
