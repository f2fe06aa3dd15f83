package fastflux.pruning;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;

/**
 * Precision of the per-batch partial sums X̃ᵀX̃ and X̃ᵀF computed by DJL on the activations' device.
 * The master accumulators are always float64 (ND4J); this only decides how each batch's products are
 * summed before they are added there.
 *
 * <p>Why not always fp32: a float32 Gram carries relative errors of order 1e-7 per entry, scaled by
 * |x|² and amplified by the condition number in the solve. Measured max |error| on W and b for a
 * linear truth (32768 tokens in batches of 4096, x ~ N(offset, 1), 16 outputs):
 * <pre>
 *   d    offset  fp32, centred  fp32, uncentred  fp64
 *   24   0       5.8e-8         5.8e-8           5.8e-8
 *   24   3       4.5e-7         1.3e-4           5.8e-8
 *   24   10      3.8e-6         2.6e-3           1.7e-7
 *   128  3       1.1e-6         3.0e-4           8.8e-8
 *   128  10      3.5e-6         1.7e-2           3.4e-7
 * </pre>
 * The fp64 column is the floor set by the float32 data and the float32 result itself. Centring x
 * (see {@link LeastSquaresFit}) buys 2-4 orders of magnitude in fp32, but 1e-6 stays out of reach
 * once |F| is large against its spread (F is not centred). On CPU float64 costs about 2x a float32
 * GEMM, noise next to the model's forward pass, so {@link #AUTO} takes it there. On a GPU,
 * float32 (beware TF32: keep it off for these GEMMs) is the default; FP64 is the choice on GPUs
 * with fast fp64 (A100/H100/H200).
 */
public enum PartialPrecision {
    /** float32 partial sums everywhere (what the GPU path does under {@link #AUTO}). */
    FP32,
    /** float64 partial sums everywhere (on GPUs without fast fp64 this is slow). */
    FP64,
    /** float64 on CPU, float32 on GPU. */
    AUTO;

    /** The DJL data type the partial sums are computed in for arrays living on {@code device}. */
    DataType dataType(Device device) {
        return switch (this) {
            case FP32 -> DataType.FLOAT32;
            case FP64 -> DataType.FLOAT64;
            case AUTO -> device.isGpu() ? DataType.FLOAT32 : DataType.FLOAT64;
        };
    }
}
