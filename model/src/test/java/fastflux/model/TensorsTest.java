package fastflux.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

class TensorsTest {
    private static BufferPoolMXBean direct() {
        for (BufferPoolMXBean p : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (p.getName().equals("direct")) return p;
        }
        throw new AssertionError("no direct buffer pool");
    }

    @Test
    void createCopiesTheDataAndLeavesNoDirectBufferBehind() {
        assumeTrue(DirectBuffers.freesAtOnce(), "sun.misc.Unsafe.invokeCleaner unavailable");
        try (NDManager m = NDManager.newBaseManager()) {
            Tensors.create(m, new float[] {1}, new Shape(1)).close(); // engine and pool set-up
            long buffers = direct().getCount();
            long bytes = direct().getMemoryUsed();
            for (int i = 0; i < 100; i++) {
                float[] f = new float[4096];
                int[] n = new int[1000];
                for (int j = 0; j < f.length; j++) f[j] = i + j * 0.5f;
                for (int j = 0; j < n.length; j++) n[j] = i * j - 7;
                try (NDArray a = Tensors.create(m, f, new Shape(64, 64));
                     NDArray b = Tensors.create(m, n, new Shape(10, 100))) {
                    assertEquals(DataType.FLOAT32, a.getDataType());
                    assertEquals(DataType.INT32, b.getDataType());
                    assertArrayEquals(f, a.toFloatArray());
                    assertArrayEquals(n, b.toIntArray());
                }
            }
            // DJL's m.create(float[]) would have left 200 direct buffers (2 MB) for the GC to free
            // (a GC in between can only lower the counts)
            assertTrue(direct().getCount() <= buffers, direct().getCount() + " direct buffers, " + buffers + " before");
            assertTrue(direct().getMemoryUsed() <= bytes, direct().getMemoryUsed() + " direct bytes, " + bytes + " before");
        }
    }
}
