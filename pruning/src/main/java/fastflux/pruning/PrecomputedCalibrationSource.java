package fastflux.pruning;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import fastflux.model.FluxParams;
import fastflux.model.Tensors;
import fastflux.model.io.Half;
import fastflux.model.io.SafetensorsReader;
import fastflux.model.io.TensorInfo;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * Calibration prompts of a real FLUX checkpoint, whose T5/CLIP encoders this project does not run: a
 * safetensors file (diffusers-style export) holding, per prompt, {@code txt} [N, L, context_in_dim] (T5
 * states) and {@code y} [N, vec_in_dim] (pooled CLIP), F32/F16/BF16. Optional {@code neg_txt} [1, L, C] and
 * {@code neg_y} [1, vec] are the empty prompt's, needed only for classifier-free guidance (a
 * guidance-embedded model such as FLUX-dev needs none). Rows are read per batch from the mapped file, so
 * the file is never loaded whole. The latent grid (packed tokens, h × w) comes from the file's
 * {@value #LATENT_GRID} metadata or the caller.
 */
public final class PrecomputedCalibrationSource implements CalibrationSource, AutoCloseable {
    private final SafetensorsReader reader;
    private final int n;
    private final int txtLen;
    private final int ctx;
    private final int vec;
    private final int gridH;
    private final int gridW;
    private final int channels;
    private final boolean shift;
    /** The file's key of each of txt, y, neg_txt, neg_y: the name itself or diffusers' ({@link #DIFFUSERS_NAMES}). */
    private final java.util.Map<String, String> keys;

    /** diffusers' names of the same tensors, as its pipelines' {@code encode_prompt} returns them. */
    public static final java.util.Map<String, String> DIFFUSERS_NAMES = java.util.Map.of("txt", "prompt_embeds",
            "y", "pooled_prompt_embeds", "neg_txt", "negative_prompt_embeds", "neg_y", "negative_pooled_prompt_embeds");

    private PrecomputedCalibrationSource(SafetensorsReader reader, FluxParams p, int gridH, int gridW, boolean shift) {
        this.reader = reader;
        this.keys = keys(reader);
        TensorInfo txt = require(reader, key("txt"), 3);
        TensorInfo y = require(reader, key("y"), 2);
        this.n = (int) txt.shape()[0];
        this.txtLen = (int) txt.shape()[1];
        this.ctx = (int) txt.shape()[2];
        this.vec = (int) y.shape()[1];
        if (y.shape()[0] != n) {
            throw new IllegalArgumentException(reader.file() + ": txt holds " + n + " prompts but y holds " + y.shape()[0]);
        }
        if (ctx != p.contextInDim() || vec != p.vecInDim()) {
            throw new IllegalArgumentException(reader.file() + ": txt [.., " + ctx + "] and y [.., " + vec
                    + "] do not match the config's context_in_dim " + p.contextInDim() + " and vec_in_dim " + p.vecInDim());
        }
        for (String neg : new String[] {"neg_txt", "neg_y"}) {
            if (has(neg) != has(neg.equals("neg_txt") ? "neg_y" : "neg_txt")) {
                throw new IllegalArgumentException(reader.file() + ": '" + key(neg) + "' needs its companion (neg_txt and neg_y come together)");
            }
        }
        if (has("neg_txt")) {
            TensorInfo nt = require(reader, key("neg_txt"), 3);
            TensorInfo ny = require(reader, key("neg_y"), 2);
            if (nt.shape()[0] != 1 || nt.shape()[1] != txtLen || nt.shape()[2] != ctx || ny.shape()[0] != 1 || ny.shape()[1] != vec) {
                throw new IllegalArgumentException(reader.file() + ": neg_txt " + java.util.Arrays.toString(nt.shape()) + " and neg_y "
                        + java.util.Arrays.toString(ny.shape()) + " must be [1, " + txtLen + ", " + ctx + "] and [1, " + vec + "]");
            }
        }
        if (gridH <= 0 || gridW <= 0) {
            throw new IllegalArgumentException("latent grid must be positive, got " + gridH + "x" + gridW);
        }
        this.gridH = gridH;
        this.gridW = gridW;
        this.channels = p.inChannels();
        this.shift = shift;
    }

    /**
     * Opens {@code file} for config {@code p}; the packed latent grid is {@code gridH × gridW} tokens (a
     * 1024² FLUX image is 64 × 64). {@code shift}: FLUX-dev's shifted schedule (true) or schnell's (false).
     */
    public static PrecomputedCalibrationSource open(Path file, FluxParams p, int gridH, int gridW, boolean shift) {
        SafetensorsReader r = SafetensorsReader.open(file);
        try {
            return new PrecomputedCalibrationSource(r, p, gridH, gridW, shift);
        } catch (RuntimeException e) {
            r.close();
            throw e;
        }
    }

    /** The header metadata key that states the latent grid the prompts are generated at, {@code "HxW"} in tokens. */
    public static final String LATENT_GRID = "latent_grid";

    /**
     * As {@link #open(Path, FluxParams, int, int, boolean)}, the grid taken from the file's {@value #LATENT_GRID}
     * metadata (e.g. {@code "64x64"} for 1024² FLUX images), or {@code defaultGrid} x {@code defaultGrid} without it.
     */
    public static PrecomputedCalibrationSource open(Path file, FluxParams p, int defaultGrid, boolean shift) {
        SafetensorsReader r = SafetensorsReader.open(file);
        try {
            int[] grid = {defaultGrid, defaultGrid};
            String g = r.metadata().get(LATENT_GRID);
            if (g != null) {
                String[] hw = g.trim().split("x");
                try {
                    if (hw.length != 2) throw new NumberFormatException(g);
                    grid = new int[] {Integer.parseInt(hw[0].trim()), Integer.parseInt(hw[1].trim())};
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(file + ": metadata " + LATENT_GRID + " must be HxW in latent tokens "
                            + "(e.g. 64x64 for a 1024x1024 FLUX image), got '" + g + "'");
                }
            }
            return new PrecomputedCalibrationSource(r, p, grid[0], grid[1], shift);
        } catch (RuntimeException e) {
            r.close();
            throw e;
        }
    }

    /** Each tensor's key in the file; a file naming one tensor in both spellings is refused. */
    private static java.util.Map<String, String> keys(SafetensorsReader r) {
        java.util.Map<String, String> keys = new java.util.HashMap<>();
        for (var e : DIFFUSERS_NAMES.entrySet()) {
            boolean own = r.contains(e.getKey()), diffusers = r.contains(e.getValue());
            if (own && diffusers) {
                throw new IllegalArgumentException(r.file() + ": holds both '" + e.getKey() + "' and '" + e.getValue()
                        + "', two names of the same tensor: keep one");
            }
            keys.put(e.getKey(), diffusers ? e.getValue() : e.getKey());
        }
        return keys;
    }

    private String key(String name) {
        return keys.get(name);
    }

    private boolean has(String name) {
        return reader.contains(key(name));
    }

    private static TensorInfo require(SafetensorsReader r, String name, int rank) {
        if (!r.contains(name)) {
            throw new IllegalArgumentException(r.file() + ": no tensor '" + name + "' (expected txt [N, L, context_in_dim] and y [N, vec_in_dim], "
                    + "or diffusers' prompt_embeds and pooled_prompt_embeds, F32/F16/BF16; it holds " + r.names() + ")");
        }
        TensorInfo info = r.info(name);
        if (info.shape().length != rank || !info.dtype().isFloating()) {
            throw new IllegalArgumentException(r.file() + ": tensor '" + name + "' must be a floating tensor of rank "
                    + rank + ", got " + info);
        }
        return info;
    }

    /** The file this source reads. */
    public Path file() {
        return reader.file();
    }

    /** Whether the file holds the empty prompt's {@code neg_txt}/{@code neg_y} (needed for classifier-free guidance). */
    /** L: the text tokens of every prompt. */
    public int textLength() {
        return txtLen;
    }

    public boolean hasUnconditional() {
        return has("neg_txt") && has("neg_y");
    }

    @Override
    public int size() {
        return n;
    }

    @Override
    public String describe() {
        return "precomputed(" + reader.file().getFileName() + ", n=" + n + ")";
    }

    @Override
    public int latentTokens() {
        return gridH * gridW;
    }

    @Override
    public int latentChannels() {
        return channels;
    }

    @Override
    public boolean shiftSchedule() {
        return shift;
    }

    @Override
    public Conditioning condition(int[] promptIndices, NDManager m) {
        int b = promptIndices.length;
        float[] txt = new float[b * txtLen * ctx];
        float[] y = new float[b * vec];
        for (int i = 0; i < b; i++) {
            int row = promptIndices[i];
            if (row < 0 || row >= n) {
                throw new IndexOutOfBoundsException("prompt " + row + " of " + n);
            }
            readRow("txt", row, txtLen * ctx, txt, i * txtLen * ctx);
            readRow("y", row, vec, y, i * vec);
        }
        return build(txt, y, b, m);
    }

    @Override
    public Conditioning unconditional(int count, NDManager m) {
        if (!has("neg_txt") || !has("neg_y")) {
            return null;
        }
        float[] txt = new float[count * txtLen * ctx];
        float[] y = new float[count * vec];
        for (int i = 0; i < count; i++) {
            readRow("neg_txt", 0, txtLen * ctx, txt, i * txtLen * ctx);
            readRow("neg_y", 0, vec, y, i * vec);
        }
        return build(txt, y, count, m);
    }

    private Conditioning build(float[] txt, float[] y, int b, NDManager m) {
        NDArray txtA = Tensors.create(m, txt, new Shape(b, txtLen, ctx));
        NDArray yA = Tensors.create(m, y, new Shape(b, vec));
        NDArray txtIds = m.zeros(new Shape(b, txtLen, 3));
        float[] ids = new float[b * gridH * gridW * 3];
        for (int k = 0; k < b; k++) {
            for (int i = 0; i < gridH; i++) {
                for (int j = 0; j < gridW; j++) { // (0, row, col), as the reference's prepare()
                    int o = ((k * gridH + i) * gridW + j) * 3;
                    ids[o + 1] = i;
                    ids[o + 2] = j;
                }
            }
        }
        NDArray imgIds = Tensors.create(m, ids, new Shape(b, (long) gridH * gridW, 3));
        return new Conditioning(txtA, yA, txtIds, imgIds);
    }

    /** Copies row {@code row} ({@code len} values) of tensor {@code name}, converting to float. */
    private void readRow(String canonical, int row, int len, float[] out, int at) {
        String name = key(canonical);
        TensorInfo info = reader.info(name);
        if (info.numel() / info.shape()[0] != len) {
            throw new IllegalArgumentException(reader.file() + ": tensor '" + name + "' rows hold "
                    + info.numel() / info.shape()[0] + " values, expected " + len);
        }
        ByteBuffer buf = reader.raw(name).order(ByteOrder.LITTLE_ENDIAN);
        int size = info.dtype().byteSize();
        long base = (long) row * len * size;
        for (int i = 0; i < len; i++) {
            int pos = (int) (base + (long) i * size);
            out[at + i] = switch (info.dtype()) {
                case F32 -> buf.getFloat(pos);
                case F16 -> Half.f16ToFloat(buf.getShort(pos));
                case BF16 -> Half.bf16ToFloat(buf.getShort(pos));
                default -> throw new IllegalArgumentException(name + " is not floating");
            };
        }
    }

    @Override
    public void close() {
        reader.close();
    }
}
