package fastflux.pruning.plan;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.types.DataType;
import fastflux.pruning.plan.JobPlan.Phase;
import org.junit.jupiter.api.Test;

/**
 * The report phase's plan: the job's model plus the blocks the report reads (the base's replaced blocks and the
 * export's changed ones, ReportModels), less than one more model, where it loaded two full models beside the job's.
 */
class ReportPhasePlanTest {
    @Test
    void theReportReadsLessThanOneModelBesideTheJobs() {
        JobPlan p = JobPlanTest.plan(JobPlanTest.inputs(0.2, Devices.parse("cuda:0"), DataType.FLOAT16), 1000 * Bytes.GIB);
        JobPlan.Use report = p.use("cuda:0", Phase.REPORT);
        long weights = report.items().get(0).bytes();
        JobPlan.Item read = report.items().stream().filter(i -> i.what().contains("read")).findFirst().orElseThrow();
        assertTrue(read.bytes() > 0 && read.bytes() < weights, read.bytes() + " read beside " + weights + " of weights");
        assertTrue(report.items().stream().noneMatch(i -> i.what().contains("loaded")), "no full model loaded: " + report.items());
        // FLUX.1-dev at ratio 0.2: 11 blocks replaced, up to 22 neighbours adapted: at most 33 of 57 blocks, the largest first
        long singleBlock = 141_557_760L * 2; // a FLUX.1 single block's parameters in fp16
        assertTrue(read.bytes() > 11 * singleBlock, read.toString());
    }

    @Test
    void withTheRankingKnownTheReportReadsTheReplacedBlocksAndTheirSandwichesNeighboursOnly() {
        // replaced in the order 1, 3, 2 of 6: the sandwiches (one neighbour a side) adapt 0, 2 | 4 | 4 and 1 is gone
        assertEquals(java.util.Set.of(0, 4), JobPlan.adaptedNeighbours(java.util.List.of(1, 3, 2), 6, 1));
        assertEquals(java.util.Set.of(2, 5), JobPlan.adaptedNeighbours(java.util.List.of(3, 4), 6, 1));
        assertEquals(java.util.Set.of(), JobPlan.adaptedNeighbours(java.util.List.of(0, 1), 2, 2));

        // start2end at ratio 0.2: blocks 0..10 (double) replaced, only block 11 adapted: 12 double blocks read
        fastflux.pruning.PruneOptions o = fastflux.pruning.PruneOptions.defaults(0.2)
                .with(fastflux.pruning.PruneOptions.ORDER, fastflux.pruning.PruneOptions.Order.START2END);
        JobPlan known = JobPlanTest.plan(new JobPlan.Inputs(JobPlanTest.DEV, o, Devices.parse("cuda:0"), DataType.FLOAT16,
                4096, 512, 64, 16, 2, 5, false), 1000 * Bytes.GIB);
        JobPlan unknown = JobPlanTest.plan(JobPlanTest.inputs(0.2, Devices.parse("cuda:0"), DataType.FLOAT16), 1000 * Bytes.GIB);
        long read = readOf(known);
        long h = 3072;
        long doubleBlock = 339_831_296L; // a FLUX.1 double block's parameters
        assertEquals((12 * doubleBlock + 11 * 2 * (h * h + h)) * 2, read);
        assertTrue(read < readOf(unknown), read + " against the bound over every ranking " + readOf(unknown));
    }

    private static long readOf(JobPlan p) {
        return p.use("cuda:0", Phase.REPORT).items().stream().filter(i -> i.what().contains("read")).findFirst().orElseThrow().bytes();
    }
}
