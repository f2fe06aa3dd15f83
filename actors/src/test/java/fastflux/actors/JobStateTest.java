package fastflux.actors;

import static fastflux.actors.JobState.CANCELLED;
import static fastflux.actors.JobState.DONE;
import static fastflux.actors.JobState.FAILED;
import static fastflux.actors.JobState.PAUSED;
import static fastflux.actors.JobState.QUEUED;
import static fastflux.actors.JobState.RUNNING;
import static org.junit.jupiter.api.Assertions.*;

import fastflux.actors.JobState.Event;
import fastflux.actors.PruningCoordinator.ShardState;
import fastflux.actors.PruningCoordinator.StopReason;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The job's states, their words, and every move between them: the allowed ones and the refused ones. */
class JobStateTest {
    @Test
    void theWordsAreTheOnesOnDiskOnTheWireAndOnScreen() {
        assertEquals(List.of("queued", "running", "paused", "done", "failed", "cancelled"),
                java.util.Arrays.stream(JobState.values()).map(JobState::word).toList());
        for (JobState s : JobState.values()) {
            assertSame(s, JobState.parse(s.word()));
            assertEquals(s.word(), s.toString(), "printed as its word");
            assertEquals(s.word(), String.format("%s", s));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JobState.parse("RUNNING"));
        assertEquals("unknown job state 'RUNNING' (known: queued, running, paused, done, failed, cancelled)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> JobState.parse(null));
    }

    @Test
    void everyMoveIsTheTablesAndEveryOtherOneIsRefused() {
        Map<JobState, Map<Event, JobState>> allowed = new EnumMap<>(JobState.class);
        for (JobState s : JobState.values()) allowed.put(s, new EnumMap<>(Event.class));
        allowed.get(QUEUED).putAll(Map.of(Event.START, RUNNING, Event.PAUSE, PAUSED, Event.CANCEL, CANCELLED));
        allowed.get(RUNNING).putAll(Map.of(Event.PAUSE, PAUSED, Event.CANCEL, CANCELLED, Event.FINISH, DONE, Event.FAIL, FAILED));
        allowed.get(PAUSED).putAll(Map.of(Event.RESUME, QUEUED, Event.CANCEL, CANCELLED));
        for (JobState s : JobState.values()) {
            for (Event e : Event.values()) {
                JobState to = allowed.get(s).get(e);
                assertEquals(to != null, s.allows(e), s + " " + e);
                if (to != null) assertSame(to, s.next(e), s + " " + e);
                else assertThrows(IllegalStateException.class, () -> s.next(e), s + " " + e);
            }
        }
    }

    @Test
    void resumingADoneJobIsRefusedSayingWhichJobsCanBe() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> DONE.next(Event.RESUME));
        assertEquals("the job is done: only a paused job can be resumed", e.getMessage());
        assertEquals("only a queued or running job can be paused", JobState.refusal(Event.PAUSE));
        assertEquals("only a queued, running or paused job can be cancelled", JobState.refusal(Event.CANCEL));
        assertFalse(DONE.canResume());
        assertFalse(FAILED.canPause());
        assertFalse(CANCELLED.canCancel());
        assertTrue(PAUSED.canResume() && PAUSED.canCancel() && !PAUSED.canPause());
    }

    @Test
    void aRefusedMoveLeavesTheRegistryJobAsItWasAndNamesIt() {
        JobRegistry.Job j = new JobRegistry.Job("job-0003", null, DONE, null);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> j.apply(Event.RESUME, "never"));
        assertEquals("job-0003: the job is done: only a paused job can be resumed", e.getMessage());
        assertSame(DONE, j.state());
        assertNull(j.error);
        JobRegistry.Job q = new JobRegistry.Job("job-0004", null, QUEUED, null);
        q.apply(Event.START, null);
        q.apply(Event.FAIL, "out of memory");
        assertSame(FAILED, q.state());
        assertEquals("out of memory", q.error);
    }

    @Test
    void terminalActiveAndLoadFollowTheMoves() {
        assertEquals(List.of(DONE, FAILED, CANCELLED),
                java.util.Arrays.stream(JobState.values()).filter(JobState::isTerminal).toList());
        assertEquals(List.of(QUEUED, RUNNING, PAUSED),
                java.util.Arrays.stream(JobState.values()).filter(JobState::isActive).toList());
        assertEquals(List.of(QUEUED, RUNNING),
                java.util.Arrays.stream(JobState.values()).filter(JobState::wantsDevice).toList());
    }

    @Test
    void aCancelOverridesAnyStopRequestOtherwiseTheFirstStands() {
        assertSame(StopReason.CANCELLED, StopReason.PAUSED.and(StopReason.CANCELLED));
        assertSame(StopReason.CANCELLED, StopReason.SHUTDOWN.and(StopReason.CANCELLED));
        assertSame(StopReason.SHUTDOWN, StopReason.SHUTDOWN.and(StopReason.PAUSED));
        assertSame(StopReason.PAUSED, StopReason.PAUSED.and(StopReason.SHUTDOWN));
        assertSame(StopReason.CANCELLED, StopReason.CANCELLED.and(StopReason.PAUSED));
        assertEquals("shutdown", StopReason.SHUTDOWN.toString(), "the word the node logs");
    }
}
