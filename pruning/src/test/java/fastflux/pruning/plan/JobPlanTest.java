package fastflux.pruning.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.types.DataType;
import fastflux.model.FluxParams;
import fastflux.pruning.PruneOptions;
import fastflux.pruning.plan.JobPlan.Phase;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The plan's arithmetic on FLUX.1-dev's shapes: nothing is allocated, so the real sizes run in milliseconds. */
class JobPlanTest {
    static final FluxParams DEV = FluxParams.named("flux-dev");
    static final long G = Bytes.GIB;

    static JobPlan.Inputs inputs(double ratio, Devices d, DataType dt) {
        return new JobPlan.Inputs(DEV, PruneOptions.defaults(ratio), d, dt, 4096, 512, 64, 16, 2, 5, false);
    }

    static JobPlan plan(JobPlan.Inputs in, long capacity) {
        int n = in.devices().size() + (in.devices().gpu() ? 1 : 0);
        return JobPlan.of(in, Collections.nCopies(n, new DeviceMemory.Capacity(capacity, "test")), Long.MAX_VALUE);
    }

    @Test
    void theWeightsOfFluxDevAreTwelveBillionParametersHeldOnceOnTheFirstDevice() {
        JobPlan one = plan(inputs(0.2, Devices.parse("cuda:0"), DataType.FLOAT16), 1000 * G);
        long w = one.use("cuda:0", Phase.FIT).items().get(0).bytes();
        assertEquals(11_901_408_320L * 2, w); // FLUX.1-dev's transformer, fp16
        JobPlan cpu = plan(inputs(0.2, Devices.CPU, DataType.FLOAT32), 1000 * G);
        assertEquals(2 * w, cpu.use("cpu", Phase.FIT).items().get(0).bytes(), "fp32 is twice fp16");
        // two GPUs: each holds its range of blocks, balanced by bytes, the two together the model once, in every phase
        JobPlan two = plan(inputs(0.2, Devices.parse("cuda:0,cuda:1"), DataType.FLOAT16), 1000 * G);
        for (Phase ph : Phase.values()) {
            JobPlan.Item a = two.use("cuda:0", ph).items().get(0);
            JobPlan.Item c = two.use("cuda:1", ph).items().get(0);
            assertEquals(w, a.bytes() + c.bytes(), ph.label());
            assertTrue(Math.abs(a.bytes() - c.bytes()) < w / 20, a.bytes() + " against " + c.bytes());
            assertTrue(a.what().contains("blocks 0..") && c.what().contains("..56"), a.what() + " / " + c.what());
        }
    }

    @Test
    void aJobThatCannotFitIsRefusedNamingThePhaseAndTheDevice() {
        JobPlan p = plan(inputs(0.2, Devices.CPU, DataType.FLOAT32), G);
        PlanRefusedException e = assertThrows(PlanRefusedException.class, p::requireFits);
        assertEquals("cpu", e.device());
        assertEquals(Phase.IMPORTANCE, e.phase());
        assertTrue(e.getMessage().contains("phase importance") && e.getMessage().contains("on cpu")
                && e.getMessage().contains("1.00 GiB"), e.getMessage());
        // the host of a GPU job is a device of its own: beside its runtime (2.1 GiB) the fit's float64 sums of width
        // 3072 and the calibration taps do not fit 3 GiB there
        JobPlan gpu = JobPlan.of(inputs(0.2, Devices.parse("cuda:0"), DataType.FLOAT16),
                List.of(new DeviceMemory.Capacity(1000 * G, "gpu"), new DeviceMemory.Capacity(3 * G, "host")), Long.MAX_VALUE);
        PlanRefusedException h = assertThrows(PlanRefusedException.class, gpu::requireFits);
        assertEquals("cpu (host)", h.device());
        assertEquals(Phase.FIT, h.phase());
        assertNull(plan(inputs(0.2, Devices.CPU, DataType.FLOAT32), 100_000 * G).firstMisfit());
    }

    @Test
    void theCalibrationTapsAreCheckedAgainstTheJavaHeap() {
        JobPlan p = JobPlan.of(inputs(0.2, Devices.CPU, DataType.FLOAT32), List.of(new DeviceMemory.Capacity(100_000 * G, "t")), 8 * G);
        JobPlan.Use u = p.firstMisfit();
        assertNotNull(u);
        assertEquals("java heap", u.device());
        assertEquals(Phase.FIT, u.phase());
    }

    @Test
    void figuresScaleWithTheRatioThePromptsAndTheDtype() {
        JobPlan a = plan(inputs(0.2, Devices.CPU, DataType.FLOAT32), 1000 * G);
        JobPlan b = plan(inputs(0.4, Devices.CPU, DataType.FLOAT32), 1000 * G);
        // fit FLOPs: one calibration pass per replaced block, 11 against 23 of 57
        assertEquals(23.0 / 11, (double) b.flops().get(Phase.FIT) / a.flops().get(Phase.FIT), 1e-9);
        assertTrue(b.disk().get("export") < a.disk().get("export"), "a higher ratio exports less");
        assertEquals(a.flops().get(Phase.IMPORTANCE), b.flops().get(Phase.IMPORTANCE), "importance scores every block");

        JobPlan.Inputs base = inputs(0.2, Devices.CPU, DataType.FLOAT32);
        JobPlan.Inputs more = base.withOptions(base.options().with(PruneOptions.CALIB_PROMPTS, 128));
        JobPlan c = plan(new JobPlan.Inputs(DEV, more.options(), Devices.CPU, DataType.FLOAT32, 4096, 512, 128, 16, 2, 5, false), 1000 * G);
        assertEquals(2.0, (double) c.flops().get(Phase.FIT) / a.flops().get(Phase.FIT), 1e-9);
        long pair = (2L * 4608 * 3072 + 3072 + 3 * 4608) * 4;
        // the training pairs' spill stops at spill-bytes (8 GiB, whole pairs); the held-out pairs' does not
        assertEquals(Math.min(128L * 2 * 10 * pair - (256L << 20), (8L << 30) / pair * pair) + 16L * 2 * 10 * pair - (256L << 20),
                c.disk().get("sandwich pair spill (largest block)"));

        long act32 = a.use("cpu", Phase.IMPORTANCE).items().get(1).bytes();
        long act16 = plan(inputs(0.2, Devices.CPU, DataType.FLOAT16), 1000 * G).use("cpu", Phase.IMPORTANCE).items().get(1).bytes();
        assertTrue(act16 < act32 && act16 > act32 / 2, act16 + " vs " + act32 + ": fp32 scores and inputs stay");
    }

    static long item(JobPlan p, String device, Phase ph, String prefix) {
        return p.use(device, ph).items().stream().filter(i -> i.what().startsWith(prefix)).mapToLong(JobPlan.Item::bytes).sum();
    }

    @Test
    void sandwichTrainingHoldsOneMicroBatchsActivationsAndThePlanNamesOneThatFits() {
        JobPlan.Inputs in = inputs(0.2, Devices.parse("cuda:0"), DataType.FLOAT16);
        JobPlan whole = plan(in, 80 * G);
        long act16 = item(whole, "cuda:0", Phase.SANDWICH, "training activations");
        // FLUX.1-dev at 1024²: 16 pairs of 4,608 tokens through two full blocks do not fit an 80 GB GPU
        assertTrue(act16 > 100 * G, Bytes.format(act16));
        PlanRefusedException e = assertThrows(PlanRefusedException.class, whole::requireFits);
        assertEquals(Phase.SANDWICH, e.phase());
        int mb = whole.fittingMicroBatch();
        assertTrue(mb >= 1 && mb < 16, "micro-batch " + mb);
        assertTrue(e.getMessage().contains("--st-micro-batch " + mb), e.getMessage());
        // the activations scale with the pairs per pass (the fp32 states of the pass included), not with the step's
        JobPlan.Inputs micro = in.withOptions(in.options().with(PruneOptions.ST_MICRO_BATCH, mb));
        JobPlan fits = plan(micro, 80 * G);
        assertNull(fits.firstMisfit(), fits.format(Double.NaN, ""));
        assertEquals((double) mb / 16, (double) item(fits, "cuda:0", Phase.SANDWICH, "training activations") / act16, 1e-9);
        JobPlan over = plan(in.withOptions(in.options().with(PruneOptions.ST_MICRO_BATCH, mb + 1)), 80 * G);
        assertEquals(Phase.SANDWICH, over.firstMisfit().phase(), "the next micro-batch up does not fit");
        // the step's pairs set the training FLOPs, the micro-batch does not
        assertEquals(whole.flops().get(Phase.SANDWICH), fits.flops().get(Phase.SANDWICH));
        JobPlan four = plan(in.withOptions(in.options().with(PruneOptions.ST_BATCH, 4)), 80 * G);
        assertTrue(four.flops().get(Phase.SANDWICH) < whole.flops().get(Phase.SANDWICH));
        assertEquals(0.25, (double) item(four, "cuda:0", Phase.SANDWICH, "training activations") / act16, 1e-9);
    }

    @Test
    void theHostHoldsTheRuntimeTheJavaHeapAfterLoadingAndTheAllocatorsKeptMemory() {
        JobPlan cpu = plan(inputs(0.2, Devices.CPU, DataType.FLOAT32), 1000 * G);
        for (Phase ph : Phase.values()) {
            assertEquals(JobPlan.HOST_RUNTIME, item(cpu, "cpu", ph, "runtime"), ph.label());
            // the largest tensor of FLUX.1-dev is a single block's linear1, 21504 x 3072: three of it in fp32; the
            // fit's calibration taps (42 GiB here) fill the same heap, which is counted once
            assertEquals(ph == Phase.FIT ? 0 : 3L * 21504 * 3072 * 4, item(cpu, "cpu", ph, "Java heap"), ph.label());
            assertEquals(JobPlan.MALLOC_RETAINED, item(cpu, "cpu", ph, "allocator"), ph.label());
        }
        // the heap term is at most the JVM's -Xmx
        JobPlan small = JobPlan.of(inputs(0.2, Devices.CPU, DataType.FLOAT32), List.of(new DeviceMemory.Capacity(1000 * G, "t")),
                100L << 20);
        assertEquals(100L << 20, item(small, "cpu", Phase.IMPORTANCE, "Java heap"));
        // on a GPU job those live on the host, and the GPU holds its CUDA context
        JobPlan gpu = plan(inputs(0.2, Devices.parse("cuda:0"), DataType.FLOAT16), 1000 * G);
        assertEquals(JobPlan.MALLOC_RETAINED, item(gpu, "cpu (host)", Phase.FIT, "allocator"));
        assertEquals(0, item(gpu, "cuda:0", Phase.FIT, "allocator"));
        assertEquals(JobPlan.GPU_RUNTIME, item(gpu, "cuda:0", Phase.FIT, "runtime"));
    }

    @Test
    void outputMseImportanceCostsAForwardPerStepPlusEachBlocksSuffix() {
        JobPlan p = plan(inputs(0.2, Devices.CPU, DataType.FLOAT32), 1000 * G);
        double share = p.suffixShare(DEV);
        // 57 blocks: per block the blocks after it, about half a forward each on average, less than 57 forwards
        assertTrue(share > 20 && share < 57 / 2.0 + 1, "share " + share);
        JobPlan.Inputs fsf = new JobPlan.Inputs(DEV.withDepth(0, 4), PruneOptions.defaults(0.5), Devices.CPU, DataType.FLOAT32,
                64, 128, 4, 4, 2, 0, false);
        // four equal blocks: 3/4 + 2/4 + 1/4 + 0
        assertEquals(1.5, plan(fsf, 1000 * G).suffixShare(fsf.params()), 1e-12);
    }

    @Test
    void devicesParseAndNameTheirMistakes() {
        assertEquals("cuda:0,cuda:2", Devices.parse("cuda:0, gpu2").toString());
        assertEquals(Devices.CPU, Devices.parse("CPU"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Devices.parse("cuda:0,cpu")).getMessage().contains("'cpu'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Devices.parse("cuda:1,cuda:1")).getMessage().contains("twice"));
        assertEquals(80 * G, Bytes.parse("80G"));
        assertEquals(512L << 20, Bytes.parse("512MiB"));
        assertEquals(3 * G / 2, Bytes.parse("1.5GB"));
        assertThrows(IllegalArgumentException.class, () -> Bytes.parse("lots"));
        assertEquals(DataType.FLOAT16, ComputeDtype.AUTO.resolve(Devices.parse("cuda:0")));
        assertEquals(DataType.FLOAT32, ComputeDtype.AUTO.resolve(Devices.CPU));
    }

    @Test
    void theCpuCapacityIsTheSmallerOfMemAvailableAndTheCgroupLimit(@TempDir Path tmp) throws Exception {
        Path proc = Files.createDirectories(tmp.resolve("proc/self"));
        Files.writeString(tmp.resolve("proc/meminfo"), "MemTotal: 64000000 kB\nMemAvailable: 8388608 kB\n");
        Files.writeString(proc.resolve("cgroup"), "0::/job\n");
        Path cg = Files.createDirectories(tmp.resolve("cgroup/job"));
        Files.writeString(cg.resolve("memory.max"), "max\n");
        DeviceMemory m = new DeviceMemory(tmp.resolve("proc"), tmp.resolve("cgroup"));
        assertEquals(8 * G, m.cpu().bytes());
        Files.writeString(cg.resolve("memory.max"), Long.toString(2 * G));
        assertEquals(2 * G, m.cpu().bytes());
        assertTrue(m.cpu().source().contains("cgroup"));
        // v1
        Files.writeString(proc.resolve("cgroup"), "4:memory:/box\n");
        Path v1 = Files.createDirectories(tmp.resolve("cgroup/memory/box"));
        Files.writeString(v1.resolve("memory.limit_in_bytes"), Long.toString(3 * G));
        assertEquals(3 * G, m.cpu().bytes());
        Files.writeString(v1.resolve("memory.limit_in_bytes"), "9223372036854771712");
        assertEquals(8 * G, m.cpu().bytes());
        assertEquals(5 * G, m.capacity(ai.djl.Device.cpu(), 5 * G).bytes(), "--memory-limit wins");
    }

    @Test
    void aJobWhoseSandwichAloneDoesNotFitGetsTheLargestMicroBatchThatFits() {
        // FLUX.1-dev's defaults on one 80 GB GPU: 16 pairs at once keep 115 GiB of activations; 7 at a time fit
        JobPlan whole = plan(inputs(0.2, Devices.parse("cuda:0"), DataType.FLOAT16), 80 * G);
        assertEquals(7, whole.sandwichMicroBatch());
        JobPlan.Inputs seven = inputs(0.2, Devices.parse("cuda:0"), DataType.FLOAT16);
        seven = seven.withOptions(seven.options().with(fastflux.pruning.PruneOptions.ST_MICRO_BATCH, 7));
        JobPlan micro = plan(seven, 80 * G);
        assertTrue(micro.use("cuda:0", Phase.SANDWICH).fits(), micro.use("cuda:0", Phase.SANDWICH).toString());
        assertEquals(0, micro.sandwichMicroBatch(), "a job that fits keeps its options");
        // where another phase does not fit either, no micro-batch helps
        assertEquals(0, plan(inputs(0.2, Devices.parse("cuda:0"), DataType.FLOAT16), 20 * G).sandwichMicroBatch());
    }
}
