package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.*;

import fastflux.pruning.JobPhase.Position;
import org.junit.jupiter.api.Test;

class JobPhaseTest {
    @Test
    void theNextPhaseFollowsFromWhatTheCheckpointHolds() {
        assertSame(JobPhase.BASE_QUALITY, new Position(null, false, 0, false, 2, true).next());
        assertSame(JobPhase.IMPORTANCE, new Position(null, false, 0, false, 2, false).next());
        assertSame(JobPhase.FIT, new Position(JobPhase.IMPORTANCE, true, 0, false, 2, false).next());
        assertSame(JobPhase.SANDWICH, new Position(JobPhase.FIT, true, 0, true, 2, false).next());
        assertSame(JobPhase.FIT, new Position(JobPhase.SANDWICH, true, 1, false, 2, false).next());
        assertSame(JobPhase.EXPORT, new Position(JobPhase.SANDWICH, true, 2, false, 2, false).next());
        assertSame(JobPhase.EXPORT, new Position(null, true, 2, false, 2, false).next(), "a resumed finished job exports again");
        assertSame(JobPhase.REPORT, new Position(JobPhase.EXPORT, true, 2, false, 2, false).next());
        assertNull(new Position(JobPhase.REPORT, true, 2, false, 2, false).next());
        assertEquals("base_quality", JobPhase.BASE_QUALITY.word());
    }
}
