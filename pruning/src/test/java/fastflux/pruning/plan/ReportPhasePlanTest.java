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
}
