package fastflux.cli;

import ai.djl.ndarray.types.DataType;

/** The compute precisions a user can ask for. */
final class Dtypes {
    private Dtypes() {}

    static DataType parse(String s) {
        return switch (s) {
            case "fp32", "float32" -> DataType.FLOAT32;
            case "fp16", "float16" -> DataType.FLOAT16;
            case "bf16", "bfloat16" -> throw new UsageException(
                    "--dtype bf16 is not available: DJL's PyTorch engine has no bfloat16 (bf16 checkpoints load as fp32 or fp16)");
            default -> throw new UsageException("--dtype must be fp32 or fp16, got '" + s + "'");
        };
    }

    static String name(DataType d) {
        return d == DataType.FLOAT16 ? "fp16" : "fp32";
    }
}
