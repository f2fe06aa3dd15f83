package fastflux.pruning.plan;

import ai.djl.ndarray.types.DataType;

/**
 * The dtype a job holds the transformer's weights and runs its forwards in. {@code auto} is fp16 on GPUs and fp32 on
 * the CPU: libtorch's CPU kernels run fp16 several times slower than fp32 (docs/gpu.md). A bf16 checkpoint is read
 * tensor by tensor and converted in Java (DJL's libtorch binding has no bfloat16), so bf16 is never a compute dtype;
 * fp16 keeps bf16's weights within fp16's precision for FLUX.1 (its weights lie far inside fp16's range).
 * What is trained (the adapters) keeps fp32 copies whatever the compute dtype.
 */
public enum ComputeDtype {
    AUTO, FP32, FP16;

    /** The dtype on {@code devices}: AUTO resolved. */
    public DataType resolve(Devices devices) {
        return switch (this) {
            case FP32 -> DataType.FLOAT32;
            case FP16 -> DataType.FLOAT16;
            case AUTO -> devices.gpu() ? DataType.FLOAT16 : DataType.FLOAT32;
        };
    }

    public String cliName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The command line's name of a resolved dtype. */
    public static String name(DataType dt) {
        return dt == DataType.FLOAT16 ? "fp16" : dt == DataType.FLOAT32 ? "fp32" : dt.toString();
    }
}
