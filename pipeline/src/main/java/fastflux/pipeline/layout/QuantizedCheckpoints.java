package fastflux.pipeline.layout;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Refuses quantized checkpoints by name: fp8 dtypes, GGUF files and bitsandbytes (NF4 / int8) tensors. Their
 * weights would need dequantizing to mean anything, and loading their bytes as floats would give a model that
 * runs and produces noise.
 */
public final class QuantizedCheckpoints {
    private QuantizedCheckpoints() {}

    /** Safetensors dtypes of fp8 checkpoints. */
    static final Set<String> FP8_DTYPES = Set.of("F8_E4M3", "F8_E5M2", "F8_E4M3FN", "F8_E4M3FNUZ", "F8_E5M2FNUZ");

    /** Name fragments of bitsandbytes' quantization state, stored beside each quantized weight. */
    static final List<String> BNB_MARKERS = List.of(".absmax", "quant_state", ".quant_map", ".nested_absmax",
            ".SCB", ".weight_format");

    /** @throws IllegalArgumentException naming the GGUF files of {@code dir} */
    public static void refuseGguf(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            List<String> gguf = files.map(p -> p.getFileName().toString())
                    .filter(n -> n.toLowerCase(java.util.Locale.ROOT).endsWith(".gguf")).sorted().toList();
            if (!gguf.isEmpty()) {
                throw new IllegalArgumentException(dir + ": GGUF checkpoints are quantized and not supported ("
                        + String.join(", ", gguf) + "); use the bf16, fp16 or fp32 safetensors weights");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir, e);
        }
    }

    /** @throws IllegalArgumentException naming the file, the quantization and an example tensor */
    public static void refuse(SafetensorsHeader header) {
        Set<String> fp8 = new TreeSet<>();
        String fp8Example = null, bnbExample = null;
        for (var e : header.tensors().entrySet()) {
            if (FP8_DTYPES.contains(e.getValue().dtype())) {
                fp8.add(e.getValue().dtype());
                if (fp8Example == null) fp8Example = e.getKey();
            }
            if (bnbExample == null && BNB_MARKERS.stream().anyMatch(e.getKey()::contains)) bnbExample = e.getKey();
        }
        if (!fp8.isEmpty()) {
            throw new IllegalArgumentException(header.file() + ": fp8-quantized checkpoint (dtype "
                    + String.join(", ", fp8) + ", e.g. " + fp8Example
                    + ") is not supported; use the bf16, fp16 or fp32 weights");
        }
        if (bnbExample != null) {
            throw new IllegalArgumentException(header.file() + ": bitsandbytes-quantized checkpoint (NF4/int8, e.g. "
                    + bnbExample + ") is not supported; use the bf16, fp16 or fp32 weights");
        }
    }
}
