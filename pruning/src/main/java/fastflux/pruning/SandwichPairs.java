package fastflux.pruning;

import fastflux.model.DirectBuffers;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The training pairs of one sandwich (paper §3.2): per calibration item and sampler step, the input of the
 * sandwich's first block, the conditioning vector, the position ids and the output of its last block, as plain
 * floats. The first {@code bufferBytes} worth of pairs stay in memory, outside the Java heap (direct buffers,
 * freed by {@link #close}); the rest spill to one raw little-endian float32 file in a fresh directory under the
 * spill directory, read back one pair at a time ({@link #bounded}: at most so many bytes of them). {@link #close}
 * deletes that directory.
 *
 * <p>Off the heap because a full buffer (256 MB by default) held as Java arrays made the collector grow the heap in
 * doublings while it filled: with the launcher's small initial heap ({@code -Xms64m}) the main job's peak RSS was
 * 1.87 and 2.11 GB with the arrays, 1.67 GB with direct buffers (docs/stack-notes.md, "The Java heap and the serial collector").
 *
 * <p>Every pair of a buffer has the same {@link Layout}, so a pair is one fixed-size record
 * {@code [input | vec | ids | target]}; a streams state is stored as img then txt, a joint one as it is.
 */
public final class SandwichPairs implements PairSource, AutoCloseable {
    /**
     * The shape of one pair.
     *
     * @param inJoint whether the input is the joint sequence (else img, txt streams)
     * @param outJoint whether the target is the joint sequence
     * @param txtTokens L_txt
     * @param imgTokens L_img
     * @param hidden H
     * @param axes position-id axes
     */
    public record Layout(boolean inJoint, boolean outJoint, int txtTokens, int imgTokens, int hidden, int axes) {
        public int tokens() {
            return txtTokens + imgTokens;
        }

        /** Floats of a hidden state ([L, H] whichever its form). */
        public int stateFloats() {
            return tokens() * hidden;
        }

        public int vecOffset() {
            return stateFloats();
        }

        public int idsOffset() {
            return vecOffset() + hidden;
        }

        public int targetOffset() {
            return idsOffset() + tokens() * axes;
        }

        /** Floats of one record. */
        public int floats() {
            return targetOffset() + stateFloats();
        }

        public long bytes() {
            return 4L * floats();
        }
    }

    /** Bytes of one in-memory chunk (at least one record). */
    static final long CHUNK_BYTES = 64L << 20;

    private final Layout layout;
    private final long memoryPairs;
    private final Path spillRoot;
    /** Pairs the spill file may hold at most. */
    private final long spillPairs;
    /** Records per in-memory chunk; chunks are allocated as pairs arrive, each at most {@link #CHUNK_BYTES}. */
    private final int chunkPairs;
    private final List<FloatBuffer> chunks = new ArrayList<>();
    private final List<ByteBuffer> chunkMemory = new ArrayList<>();
    private long inMemory;
    private Path spillDir;
    private FileChannel spill;
    private long spilled;
    private boolean closed;

    /**
     * @param bufferBytes bytes of pairs kept in memory (0 spills every pair)
     * @param spillRoot where the spill directory is created, on the first pair that does not fit
     */
    public SandwichPairs(Layout layout, long bufferBytes, Path spillRoot) {
        this(layout, bufferBytes, spillRoot, Long.MAX_VALUE, CHUNK_BYTES);
    }

    SandwichPairs(Layout layout, long bufferBytes, Path spillRoot, long chunkBytes) {
        this(layout, bufferBytes, spillRoot, Long.MAX_VALUE, chunkBytes);
    }

    /** As the constructor, the spill file holding at most {@code spillBytes} (whole pairs); a pair beyond that is refused. */
    public static SandwichPairs bounded(Layout layout, long bufferBytes, Path spillRoot, long spillBytes) {
        return new SandwichPairs(layout, bufferBytes, spillRoot, spillBytes, CHUNK_BYTES);
    }

    private SandwichPairs(Layout layout, long bufferBytes, Path spillRoot, long spillBytes, long chunkBytes) {
        if (bufferBytes < 0) throw new IllegalArgumentException("bufferBytes must be >= 0, got " + bufferBytes);
        if (spillBytes < 0) throw new IllegalArgumentException("spillBytes must be >= 0, got " + spillBytes);
        this.layout = layout;
        this.spillPairs = spillBytes / layout.bytes();
        this.memoryPairs = bufferBytes / layout.bytes();
        this.chunkPairs = (int) Math.max(1, Math.min(chunkBytes / layout.bytes(), Integer.MAX_VALUE / layout.bytes()));
        this.spillRoot = spillRoot;
    }

    @Override
    public Layout layout() {
        return layout;
    }

    /** Pairs it can hold at most, in memory and on disk. */
    public long capacity() {
        return memoryPairs > Long.MAX_VALUE - spillPairs ? Long.MAX_VALUE : memoryPairs + spillPairs;
    }

    /** Pairs held, in memory and on disk. */
    @Override
    public long size() {
        return inMemory + spilled;
    }

    /** Pairs the in-memory buffer holds at most. */
    public long memoryCapacity() {
        return memoryPairs;
    }

    public long spilledPairs() {
        return spilled;
    }

    public long spilledBytes() {
        return spilled * layout.bytes();
    }

    /** The spill directory, or null while nothing spilled. */
    public Path spillDirectory() {
        return spillDir;
    }

    /** Appends one record (copied when kept in memory). */
    public void add(float[] record) {
        if (closed) throw new IllegalStateException("pairs are closed");
        if (record.length != layout.floats()) {
            throw new IllegalArgumentException("a pair of this sandwich has " + layout.floats() + " floats, got "
                    + record.length + " (calibration items of different text lengths cannot share a sandwich buffer)");
        }
        if (inMemory < memoryPairs) {
            int chunk = (int) (inMemory / chunkPairs);
            if (chunk == chunks.size()) {
                long pairs = Math.min(chunkPairs, memoryPairs - inMemory);
                ByteBuffer b = DirectBuffers.allocate((int) (pairs * layout.bytes()));
                chunkMemory.add(b);
                chunks.add(b.asFloatBuffer());
            }
            chunks.get(chunk).put((int) (inMemory % chunkPairs) * layout.floats(), record);
            inMemory++;
            PruneMetrics.pairAdded(layout.bytes(), false);
            return;
        }
        if (spilled >= spillPairs) {
            throw new IllegalStateException("the sandwich pair spill holds at most " + spillPairs + " pairs ("
                    + spillPairs * layout.bytes() + " bytes)");
        }
        write(spilled, record);
        spilled++;
        PruneMetrics.pairAdded(layout.bytes(), true);
    }

    /** Overwrites record {@code i} (which is held) with {@code record}. */
    void set(long i, float[] record) {
        if (closed) throw new IllegalStateException("pairs are closed");
        if (i < 0 || i >= size()) throw new IndexOutOfBoundsException("pair " + i + " of " + size());
        if (record.length != layout.floats()) {
            throw new IllegalArgumentException("a pair of this sandwich has " + layout.floats() + " floats, got " + record.length);
        }
        if (i < inMemory) {
            chunks.get((int) (i / chunkPairs)).put((int) (i % chunkPairs) * layout.floats(), record);
        } else {
            write(i - inMemory, record);
        }
    }

    /** Writes {@code record} at record {@code at} of the spill file (created on the first write). */
    private void write(long at, float[] record) {
        try {
            if (spill == null) {
                Files.createDirectories(spillRoot);
                spillDir = Files.createTempDirectory(spillRoot, "sandwich-");
                spill = FileChannel.open(spillDir.resolve("pairs.f32"), StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.READ, StandardOpenOption.WRITE);
            }
            ByteBuffer b = ByteBuffer.allocate((int) layout.bytes()).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(record);
            long pos = at * layout.bytes();
            while (b.hasRemaining()) pos += spill.write(b, pos);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot spill sandwich pairs to " + spillRoot, e);
        }
    }

    /** Record {@code i}, as a fresh array. */
    @Override
    public float[] get(long i) {
        if (closed) throw new IllegalStateException("pairs are closed");
        if (i < 0 || i >= size()) throw new IndexOutOfBoundsException("pair " + i + " of " + size());
        if (i < inMemory) {
            float[] out = new float[layout.floats()];
            chunks.get((int) (i / chunkPairs)).get((int) (i % chunkPairs) * layout.floats(), out);
            return out;
        }
        ByteBuffer b = ByteBuffer.allocate((int) layout.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        long pos = (i - inMemory) * layout.bytes();
        try {
            while (b.hasRemaining()) {
                int n = spill.read(b, pos + b.position());
                if (n < 0) throw new IOException("spill file ends before pair " + i);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read sandwich pair " + i + " from " + spillDir, e);
        }
        b.flip();
        float[] out = new float[layout.floats()];
        b.asFloatBuffer().get(out);
        return out;
    }

    /** Frees the memory and deletes the spill directory. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        PruneMetrics.pairsFreed(inMemory, spilled, layout.bytes());
        chunks.clear();
        for (ByteBuffer b : chunkMemory) DirectBuffers.free(b);
        chunkMemory.clear();
        try {
            if (spill != null) spill.close();
            if (spillDir != null) {
                try (Stream<Path> s = Files.walk(spillDir)) {
                    for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete the sandwich spill directory " + spillDir, e);
        }
    }
}
