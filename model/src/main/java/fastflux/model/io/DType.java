package fastflux.model.io;

/** Element types of a safetensors file that fastflux reads and writes, by their header names. */
public enum DType {
    F32(4),
    F16(2),
    BF16(2),
    I64(8);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** True for the floating types that {@link SafetensorsReader#readFloats} converts. */
    public boolean isFloating() {
        return this != I64;
    }

    /**
     * The dtype named {@code headerName} in a safetensors header ("F32", "BF16", ...).
     *
     * @throws IllegalArgumentException naming the unknown dtype and the supported ones
     */
    public static DType parse(String headerName) {
        if (headerName != null) {
            for (DType t : values()) {
                if (t.name().equals(headerName)) {
                    return t;
                }
            }
        }
        throw new IllegalArgumentException(
                "unknown safetensors dtype '" + headerName + "' (supported: F32, F16, BF16, I64)");
    }
}
