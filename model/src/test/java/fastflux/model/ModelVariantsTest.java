package fastflux.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Nothing in the model is tuned to flux-tiny-a: other widths, head counts, depths, axes, mlp ratios, no
 * guidance embedding, no qkv bias, 64 input channels, odd token counts, batch 1 and 3, on random weights.
 */
class ModelVariantsTest {
    static Stream<Arguments> configs() {
        return Stream.of(
                // 64 in / 48 out, hidden 96 = 3 heads of 32 = 8 + 12 + 12, mlp 2, no guidance, no qkv bias
                Arguments.of("wide-3-heads", new FluxParams(64, 48, 32, 48, 96, 2.0, 3, 1, 2,
                        new int[] {8, 12, 12}, 10_000, false, false), 37, 5),
                // hidden 40 = 5 heads of 8 = 2 + 2 + 4, mlp 3, guidance, odd channels
                Arguments.of("narrow-5-heads", new FluxParams(12, 20, 7, 9, 40, 3.0, 5, 2, 1,
                        new int[] {2, 2, 4}, 10_000, true, true), 13, 3),
                // single-stream only, one head of 24, other theta
                Arguments.of("single-only-1-head", new FluxParams(64, 64, 16, 16, 24, 4.0, 1, 0, 3,
                        new int[] {4, 8, 12}, 1_000, true, false), 9, 1),
                // double-stream only
                Arguments.of("double-only", new FluxParams(8, 8, 8, 8, 32, 1.5, 4, 2, 0,
                        new int[] {2, 2, 4}, 10_000, true, false), 21, 11));
    }

    static FluxModel model(FluxParams p, NDManager m, DataType dt) {
        FluxModel model = new FluxModel(p);
        model.initRandom(m, dt, 7);
        return model;
    }

    static double maxAbsDiff(NDArray a, NDArray b) {
        return a.toType(DataType.FLOAT32, false).sub(b.toType(DataType.FLOAT32, false)).abs().max().getFloat();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void shapesAndBatchIndependence(String name, FluxParams p, int imgTokens, int txtTokens) {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = model(p, m, DataType.FLOAT32);
            FluxInputs in = FluxInputs.random(p, m, 3, imgTokens, txtTokens, 11);
            NDArray out = model.forward(in);
            assertArrayEquals(new long[] {3, imgTokens, p.outChannels()}, out.getShape().getShape());
            assertTrue(out.isInfinite().logicalOr(out.isNaN()).none().getBoolean(), "finite");
            // Element 1 of the batch alone gives the same prediction: no mixing across the batch.
            NDIndex one = new NDIndex("1:2");
            FluxInputs single = new FluxInputs(in.img().get(one), in.imgIds().get(one), in.txt().get(one),
                    in.txtIds().get(one), in.timesteps().get(one), in.y().get(one),
                    in.guidance() == null ? null : in.guidance().get(one));
            double err = maxAbsDiff(out.get(one), model.forward(single));
            assertTrue(err <= 1e-5, name + ": batch 3 vs batch 1 max abs error " + err);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void chunkedAttentionMatchesUnchunked(String name, FluxParams p, int imgTokens, int txtTokens) {
        long saved = Attention.maxScoreElements;
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = model(p, m, DataType.FLOAT32);
            for (int batch : new int[] {1, 3}) {
                FluxInputs in = FluxInputs.random(p, m, batch, imgTokens, txtTokens, 3);
                NDArray whole = model.forward(in);
                long l = imgTokens + txtTokens;
                // one query row at a time, three rows, two heads at a time
                for (long max : new long[] {7, 3L * l * batch, 2L * batch * l * l}) {
                    Attention.maxScoreElements = max;
                    double err = maxAbsDiff(whole, model.forward(in));
                    Attention.maxScoreElements = saved;
                    assertTrue(err <= 1e-5, name + " batch " + batch + " max " + max + ": chunked vs whole " + err);
                }
            }
        } finally {
            Attention.maxScoreElements = saved;
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void fp16AgreesWithFp32(String name, FluxParams p, int imgTokens, int txtTokens) {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel m32 = model(p, m, DataType.FLOAT32);
            FluxModel m16 = model(p, m, DataType.FLOAT16);
            FluxInputs in = FluxInputs.random(p, m, 3, imgTokens, txtTokens, 5);
            NDArray ref = m32.forward(in);
            NDArray half = m16.forward(in);
            assertEquals(DataType.FLOAT32, half.getDataType(), "predictions come back in fp32");
            double err = maxAbsDiff(ref, half);
            double scale = ref.abs().max().getFloat();
            assertTrue(err <= 2e-2 * Math.max(1, scale), name + ": fp16 vs fp32 max abs error " + err + " (max |pred| " + scale + ")");
        }
    }

    /**
     * At inference each block runs in a scope of its own: what a block (or a tap on it) computes is freed when the
     * block ends, not when the forward does, so a forward holds one block's intermediates at a time. Its output
     * stays the same and outlives the block.
     */
    @Test
    void eachBlocksIntermediatesAreFreedWhenTheBlockEnds() {
        FluxParams p = new FluxParams(64, 48, 32, 48, 96, 2.0, 3, 2, 3, new int[] {8, 12, 12}, 10_000, false, false);
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = model(p, m, DataType.FLOAT32);
            FluxInputs in = FluxInputs.random(p, m, 2, 16, 5, 3);
            List<NDArray> madeInTaps = new ArrayList<>();
            List<NDArray> outputs = new ArrayList<>();
            int[] blocks = {0};
            NDArray out = model.forward(in, new BlockTap() {
                @Override
                public void doubleBlock(int index, Streams x, Streams y) {
                    check(x.img(), y.img());
                }

                @Override
                public void singleBlock(int index, NDArray x, NDArray y) {
                    check(x, y);
                }

                private void check(NDArray x, NDArray y) {
                    for (NDArray a : madeInTaps) assertTrue(a.isReleased(), "an earlier block's array is still alive");
                    madeInTaps.add(x.add(y));
                    outputs.add(y);
                    blocks[0]++;
                }
            });
            assertEquals(5, blocks[0]);
            for (NDArray y : outputs) assertFalse(y.isReleased(), "block outputs live on with the forward's caller");
            assertTrue(maxAbsDiff(out, model.forward(in)) == 0, "the tap changes nothing");
        }
    }
}
