package fastflux.streams;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import fastflux.model.BlockPlacement;
import fastflux.model.FluxModel;
import fastflux.pruning.BlockFitter;
import fastflux.pruning.Calibration;
import fastflux.shapes.ShapesModel;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A model split over devices ({@link BlockPlacement}) is run by a shard chain on the same devices with the model's
 * own ranges, so its weights stay where they are; the fit is the one the in-process loop makes. (Both devices are the
 * CPU here: the ranges are the placement's, but no weight or hidden state moves between real devices.)
 */
class SplitModelShardsTest extends StreamsTestSystem {
    @Test
    void aChainOnASplitModelsDevicesRunsItsRangesAndFitsTheSameMaps() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = TinyShapes.model(m, 7);
            Calibration cal = CalibrationPipelineTest.calibration(model);
            List<BlockFitter.FittedBlock> want = CalibrationPipelineTest.fit(cal, fastflux.pruning.CalibrationRunner.IN_PROCESS, m);
            FluxModel flux = model.flux();
            List<Device> devices = List.of(Device.cpu(), Device.cpu());
            BlockPlacement placement = BlockPlacement.of(flux, devices, flux.dtype());
            flux.place(placement, placement.managers(m));
            // the embedders weigh a block here: by bytes the first device takes fewer blocks than a split by count
            assertFalse(java.util.Arrays.equals(new int[] {0, 1}, placement.range(0)), placement.toString());
            try (ShardChain chain = ShardChain.split(flux, devices, system)) {
                for (int i = 0; i < devices.size(); i++) {
                    assertArrayEquals(placement.range(i), chain.ranges().get(i), "shard " + i + " runs the placement's range");
                }
            }
            List<BlockFitter.FittedBlock> got = CalibrationPipelineTest.fit(cal,
                    new CalibrationPipeline(mat, new CalibrationPipeline.Options(2, 2, 1), devices), m);
            CalibrationPipelineTest.assertSameFits(want, got, "a split model's shards");
            List<BlockFitter.FittedBlock> inProcess = CalibrationPipelineTest.fit(cal, fastflux.pruning.CalibrationRunner.IN_PROCESS, m);
            CalibrationPipelineTest.assertSameFits(want, inProcess, "the split model in process");
        }
    }
}
