package fastflux.actors;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where a daemon job stands, and the only moves between states. A job is queued, then running; a running job is
 * paused or cancelled between phases, finishes or fails; a paused one resumes into the queue. Done, failed and
 * cancelled are final. Each state has a word (its lower-case name) that the registry stores, the wire carries and
 * {@code status} and {@code watch} print.
 */
public enum JobState {
    QUEUED, RUNNING, PAUSED, DONE, FAILED, CANCELLED;

    /** What happens to a job; {@link #next} says where it leads from a state, or refuses it. */
    public enum Event {
        START("started"), PAUSE("paused"), RESUME("resumed"), CANCEL("cancelled"), FINISH("finished"), FAIL("failed");

        private final String participle;

        Event(String participle) {
            this.participle = participle;
        }

        /** The states this event applies to, in declaration order. */
        public List<JobState> from() {
            List<JobState> out = new ArrayList<>();
            for (JobState s : JobState.values()) if (s.allows(this)) out.add(s);
            return out;
        }
    }

    private static final Map<JobState, Map<Event, JobState>> MOVES = new EnumMap<>(JobState.class);

    static {
        move(QUEUED, Event.START, RUNNING);
        move(QUEUED, Event.PAUSE, PAUSED);
        move(QUEUED, Event.CANCEL, CANCELLED);
        // pause and cancel reach a running job between phases, once its coordinator has stopped it there
        move(RUNNING, Event.PAUSE, PAUSED);
        move(RUNNING, Event.CANCEL, CANCELLED);
        move(RUNNING, Event.FINISH, DONE);
        move(RUNNING, Event.FAIL, FAILED);
        move(PAUSED, Event.RESUME, QUEUED);
        move(PAUSED, Event.CANCEL, CANCELLED);
    }

    private static void move(JobState from, Event e, JobState to) {
        MOVES.computeIfAbsent(from, k -> new EnumMap<>(Event.class)).put(e, to);
    }

    /** The word on disk, on the wire and on screen. */
    public String word() {
        return name().toLowerCase(Locale.ROOT);
    }

    @Override
    public String toString() {
        return word();
    }

    /**
     * The state a word names.
     *
     * @throws IllegalArgumentException naming the word and the known ones
     */
    public static JobState parse(String word) {
        for (JobState s : values()) if (s.word().equals(word)) return s;
        List<String> known = new ArrayList<>();
        for (JobState s : values()) known.add(s.word());
        throw new IllegalArgumentException("unknown job state '" + word + "' (known: " + String.join(", ", known) + ")");
    }

    /** Done, failed or cancelled: nothing moves it any more, and a watcher stops there. */
    public boolean isTerminal() {
        return !MOVES.containsKey(this);
    }

    /** Queued, running or paused: it still owns its output directory. */
    public boolean isActive() {
        return !isTerminal();
    }

    /** Queued or running: it holds the node's device or waits for it (a node's load). */
    public boolean wantsDevice() {
        return this == QUEUED || this == RUNNING;
    }

    public boolean allows(Event e) {
        return MOVES.getOrDefault(this, Map.of()).containsKey(e);
    }

    public boolean canPause() {
        return allows(Event.PAUSE);
    }

    public boolean canResume() {
        return allows(Event.RESUME);
    }

    public boolean canCancel() {
        return allows(Event.CANCEL);
    }

    /**
     * Where {@code e} leads from this state.
     *
     * @throws IllegalStateException when {@code e} does not apply here, saying which states it applies to
     */
    public JobState next(Event e) {
        JobState to = MOVES.getOrDefault(this, Map.of()).get(e);
        if (to == null) throw new IllegalStateException("the job is " + word() + ": " + refusal(e));
        return to;
    }

    /** Why {@code e} is refused: the states it applies to, e.g. "only a paused job can be resumed". */
    public static String refusal(Event e) {
        List<String> words = new ArrayList<>();
        for (JobState s : e.from()) words.add(s.word());
        String states = words.size() == 1 ? words.get(0)
                : String.join(", ", words.subList(0, words.size() - 1)) + " or " + words.get(words.size() - 1);
        return "only a " + states + " job can be " + e.participle;
    }
}
