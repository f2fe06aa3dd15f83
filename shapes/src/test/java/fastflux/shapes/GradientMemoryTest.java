package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import fastflux.model.Param;
import fastflux.model.Tensors;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Backward must not depend on Java memory that the garbage collector may free between forward and backward.
 * DJL's {@code x.mul(float)} (and add, div, ...) wraps the number in a {@code from_blob} tensor over a direct
 * ByteBuffer and closes the handle at once; autograd keeps that tensor for backward (MulBackward saves it),
 * so once the GC frees the buffer, backward reads whatever malloc put there since.
 */
class GradientMemoryTest {
    @Test
    void gradientsAreTheSameWhenTheGcFreesAndMallocReusesDirectMemoryBeforeBackward() {
        float[] undisturbed = gradients(false);
        assertTrue(allFinite(undisturbed));
        for (int round = 0; round < 2; round++) {
            assertArrayEquals(undisturbed, gradients(true),
                    "backward read Java memory the GC had freed (a Java number given to a DJL tensor op?)");
        }
    }

    /** All parameter gradients of one micro training loss, concatenated. */
    private static float[] gradients(boolean disturb) {
        try (NDManager m = NDManager.newBaseManager()) {
            TinyTrainer t = TinyTrainer.fresh(TinyTrainerTest.MICRO, TinyTrainerTest.options(), m);
            ShapesModel model = t.model();
            List<Param> params = new ArrayList<>(model.params().values());
            for (Param p : params) p.value().setRequiresGradient(true);
            int b = 2, per = Latents.TOKENS * Latents.CHANNELS;
            SplittableRandom r = new SplittableRandom(3);
            float[] x = new float[b * per];
            for (int i = 0; i < x.length; i++) x[i] = (float) TinyTrainer.gaussian(r);
            List<ai.djl.ndarray.NDArray> grads = new ArrayList<>();
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray xt = Tensors.create(m, x, new Shape(b, Latents.TOKENS, Latents.CHANNELS));
                NDArray tv = Tensors.create(m, new float[] {0.3f, 0.8f}, new Shape(b));
                fastflux.world.World.Conditioning c = model.condition(List.of("a red circle", ""), m);
                NDArray loss = model.velocity(xt, tv, c).sub(xt).square().mean();
                List<ByteBuffer> filler = disturb ? freeAndReuseDirectMemory() : List.of();
                gc.backward(loss);
                Reference.reachabilityFence(filler);
            }
            List<Float> all = new ArrayList<>();
            for (Param p : params) {
                try (NDArray g = p.value().getGradient()) {
                    for (float v : g.toFloatArray()) all.add(v);
                }
            }
            float[] out = new float[all.size()];
            for (int i = 0; i < out.length; i++) out[i] = all.get(i);
            return out;
        }
    }

    /**
     * Lets the GC free unreachable direct buffers (waits until the direct pool shrinks, at most 50 collections),
     * then allocates many small direct buffers filled with NaN so malloc hands the freed chunks out again.
     */
    private static List<ByteBuffer> freeAndReuseDirectMemory() {
        BufferPoolMXBean direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(p -> p.getName().equals("direct")).findFirst().orElseThrow();
        long before = direct.getCount();
        for (int i = 0; i < 50 && direct.getCount() >= before; i++) {
            System.gc();
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        List<ByteBuffer> filler = new ArrayList<>();
        for (int i = 0; i < 20_000; i++) {
            ByteBuffer bb = ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder());
            bb.putFloat(0, Float.NaN);
            filler.add(bb);
        }
        return filler;
    }

    private static boolean allFinite(float[] a) {
        for (float v : a) if (!Float.isFinite(v)) return false;
        return true;
    }
}
