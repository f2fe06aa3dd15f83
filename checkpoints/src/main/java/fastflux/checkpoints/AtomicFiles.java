package fastflux.checkpoints;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Files that are either wholly there or not at all, and stay so across a power cut: written under a temp name
 * beside the target ({@code .NAME.HEX.tmp}), fsynced, renamed into place atomically, then the directory fsynced so
 * that the rename itself is on disk. A full file system fails the write with a {@link DiskFullException} and
 * leaves the target as it was. Every byte written passes the process's {@link WriteHook}, which tests set to stand
 * in for a full disk.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    private static final SecureRandom RANDOM = new SecureRandom();

    /** Writes a file's bytes into the channel it is given (the temp file's; the caller closes it). */
    @FunctionalInterface
    public interface Body {
        void write(WritableByteChannel out) throws IOException;
    }

    /** Sees each write through this class before it is made. */
    @FunctionalInterface
    public interface WriteHook {
        WriteHook NONE = (file, bytes) -> {};

        /** Called before {@code bytes} more bytes go to {@code file} (a temp file); throwing fails that write. */
        void beforeWrite(Path file, int bytes) throws IOException;

        /**
         * A disk that fills up: once {@code bytes} bytes have gone to files under {@code dir}, each further write
         * there fails with {@code IOException("No space left on device")}, as the operating system's would.
         */
        static WriteHook noSpaceAfter(Path dir, long bytes) {
            Path root = dir.toAbsolutePath().normalize();
            AtomicLong left = new AtomicLong(bytes);
            return (file, n) -> {
                if (!file.toAbsolutePath().normalize().startsWith(root)) return;
                if (left.addAndGet(-n) < 0) throw new IOException("No space left on device");
            };
        }
    }

    private static volatile WriteHook hook = WriteHook.NONE;

    /** Sets the hook every write of this process passes ({@link WriteHook#NONE}: none). For tests. */
    public static void hook(WriteHook h) {
        hook = h == null ? WriteHook.NONE : h;
    }

    /**
     * Writes {@code file} with {@code body}: temp file, fsync, atomic rename over {@code file}, fsync of the
     * directory. On failure the temp file is deleted and {@code file} is untouched.
     *
     * @throws DiskFullException if the file system is full
     */
    public static void write(Path file, Body body) throws IOException {
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        Path tmp = dir.resolve("." + target.getFileName() + "." + Long.toHexString(RANDOM.nextLong()) + ".tmp");
        WriteHook h = hook;
        try {
            // CREATE_NEW (not Files.createTempFile, which makes 0600 files) so the file gets the umask's permissions.
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
                body.write(new HookedChannel(ch, tmp, h));
                ch.force(true); // the bytes are on disk before a name points at them
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            if (e instanceof IOException io && DiskFullException.isNoSpace(io)) throw DiskFullException.writing(target, io);
            throw e;
        }
        syncDirectory(dir);
    }

    /** Writes {@code text} (UTF-8) to {@code file} as {@link #write} does. */
    public static void writeString(Path file, String text) throws IOException {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        write(file, out -> writeFully(out, ByteBuffer.wrap(bytes)));
    }

    /** Copies {@code from} to {@code to} as {@link #write} does. */
    public static void copy(Path from, Path to) throws IOException {
        write(to, out -> {
            try (FileChannel in = FileChannel.open(from, StandardOpenOption.READ)) {
                long size = in.size();
                for (long pos = 0; pos < size; ) pos += in.transferTo(pos, size - pos, out);
            }
        });
    }

    /** Writes all of {@code buf}. */
    public static void writeFully(WritableByteChannel out, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) out.write(buf);
    }

    /**
     * Makes a rename in {@code dir} durable. Best effort: not every platform can open a directory, and the file's
     * own bytes were fsynced before the rename.
     */
    public static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | RuntimeException ignored) {
            // the file itself is durable; only the rename may be lost with a power cut here
        }
    }

    /** Hex SHA-256 of a file's bytes. */
    public static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = digest();
            byte[] buf = new byte[1 << 16];
            for (int r; (r = in.read(buf)) > 0; ) md.update(buf, 0, r);
            return HexFormat.of().formatHex(md.digest());
        }
    }

    /** Hex SHA-256 of {@code bytes}. */
    public static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(digest().digest(bytes));
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK always has SHA-256", e);
        }
    }

    /** The temp file's channel, each write shown to the hook first; closing it is left to {@link #write}. */
    private record HookedChannel(FileChannel channel, Path file, WriteHook hook) implements WritableByteChannel {
        @Override
        public int write(ByteBuffer src) throws IOException {
            hook.beforeWrite(file, src.remaining());
            return channel.write(src);
        }

        @Override
        public boolean isOpen() {
            return channel.isOpen();
        }

        @Override
        public void close() {
            // write() closes the file once it is fsynced
        }
    }
}
