package fastflux.pruning;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
 * floats. The first {@code bufferBytes} worth of pairs stay in memory; the rest spill to one raw little-endian
 * float32 file in a fresh directory under the spill directory, read back one pair at a time. {@link #close}
 * deletes that directory.
 *
 * <p>Every pair of a buffer has the same {@link Layout}, so a pair is one fixed-size record
 * {@code [input | vec | ids | target]}; a streams state is stored as img then txt, a joint one as it is.
 */
public final class SandwichPairs implements AutoCloseable {
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

    private final Layout layout;
    private final long memoryPairs;
    private final Path spillRoot;
    private final List<float[]> memory = new ArrayList<>();
    private Path spillDir;
    private FileChannel spill;
    private long spilled;
    private boolean closed;

    /**
     * @param bufferBytes bytes of pairs kept in memory (0 spills every pair)
     * @param spillRoot where the spill directory is created, on the first pair that does not fit
     */
    public SandwichPairs(Layout layout, long bufferBytes, Path spillRoot) {
        if (bufferBytes < 0) throw new IllegalArgumentException("bufferBytes must be >= 0, got " + bufferBytes);
        this.layout = layout;
        this.memoryPairs = bufferBytes / layout.bytes();
        this.spillRoot = spillRoot;
    }

    public Layout layout() {
        return layout;
    }

    /** Pairs held, in memory and on disk. */
    public long size() {
        return memory.size() + spilled;
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
        if (memory.size() < memoryPairs) {
            memory.add(record.clone());
            return;
        }
        try {
            if (spill == null) {
                Files.createDirectories(spillRoot);
                spillDir = Files.createTempDirectory(spillRoot, "sandwich-");
                spill = FileChannel.open(spillDir.resolve("pairs.f32"), StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.READ, StandardOpenOption.WRITE);
            }
            ByteBuffer b = ByteBuffer.allocate((int) layout.bytes()).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(record);
            long pos = spilled * layout.bytes();
            while (b.hasRemaining()) pos += spill.write(b, pos);
            spilled++;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot spill sandwich pairs to " + spillRoot, e);
        }
    }

    /** Record {@code i} (a fresh array when read from disk; do not modify an in-memory one). */
    public float[] get(long i) {
        if (i < 0 || i >= size()) throw new IndexOutOfBoundsException("pair " + i + " of " + size());
        if (i < memory.size()) return memory.get((int) i);
        ByteBuffer b = ByteBuffer.allocate((int) layout.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        long pos = (i - memory.size()) * layout.bytes();
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
        memory.clear();
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
