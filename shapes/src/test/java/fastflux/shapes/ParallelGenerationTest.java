package fastflux.shapes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import fastflux.model.ParallelInference;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Generation spread over threads gives the images of one thread, byte for byte, in order. */
class ParallelGenerationTest {
    @Test
    void twoThreadsDrawTheSameBytesAsOne() {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesModel model = ShapesModel.random(TinyTrainerTest.MICRO, m, 5, true);
            List<String> prompts = List.of("a red circle", "two blue squares", "a green triangle left of a circle",
                    "a yellow square", "three circles");
            long[] seeds = {11, 12, 13, 14, 15};
            int threadsBefore = JniUtils.getNumThreads();
            List<Image> one = model.generate(prompts, seeds, 3, 4f, 2, 1, null);
            List<Integer> progress = Collections.synchronizedList(new ArrayList<>());
            List<Image> two = model.generate(prompts, seeds, 3, 4f, 2, 2, progress::add);
            assertEquals(5, two.size());
            for (int i = 0; i < 5; i++) assertArrayEquals(one.get(i).rgb(), two.get(i).rgb(), "image " + i);
            assertEquals(threadsBefore, JniUtils.getNumThreads(), "the caller's libtorch threads are restored");
            assertEquals(3, progress.size(), "one report per batch of 2, 2, 1");
            assertEquals(5, progress.get(progress.size() - 1), "the last report counts every image");
            for (int i = 1; i < progress.size(); i++) assertTrue(progress.get(i) > progress.get(i - 1), progress.toString());
            assertFalse(Fidelity.mse(one.get(0), one.get(1)) == 0, "distinct images, not one repeated");
        }
    }

    @Test
    void resultsComeBackInTaskOrderAndEachTaskRunsOnce() {
        Set<Integer> ran = ConcurrentHashMap.newKeySet();
        List<Integer> done = new ArrayList<>();
        List<String> out = ParallelInference.map(7, 3, i -> {
            assertTrue(ran.add(i), "task " + i + " twice");
            assertFalse(JniUtils.isGradMode(), "workers run without autograd");
            return "t" + i;
        }, done::add);
        assertEquals(List.of("t0", "t1", "t2", "t3", "t4", "t5", "t6"), out);
        Collections.sort(done);
        assertEquals(List.of(0, 1, 2, 3, 4, 5, 6), done);
    }

    @Test
    void aTaskThatMapsAgainGetsItsResultsInOrder() {
        List<List<Integer>> out = ParallelInference.map(8, 8, i -> ParallelInference.map(3, 2, j -> 10 * i + j, null), null);
        for (int i = 0; i < 8; i++) assertEquals(List.of(10 * i, 10 * i + 1, 10 * i + 2), out.get(i));
    }

    @Test
    void aFailingTaskIsRethrownToTheCaller() {
        IllegalStateException boom = new IllegalStateException("batch 3 failed");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ParallelInference.map(6, 2, i -> {
            if (i == 3) throw boom;
            return i;
        }, null));
        assertSame(boom, e);
        assertThrows(IllegalArgumentException.class, () -> ParallelInference.map(2, 0, i -> i, null));
    }

    @Test
    void aBadThreadsPropertyIsNamed() {
        String old = System.getProperty(ParallelInference.THREADS_PROPERTY);
        try {
            System.setProperty(ParallelInference.THREADS_PROPERTY, "two");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, ParallelInference::defaultThreads);
            assertTrue(e.getMessage().contains(ParallelInference.THREADS_PROPERTY) && e.getMessage().contains("two"),
                    e.getMessage());
            System.setProperty(ParallelInference.THREADS_PROPERTY, "3");
            assertEquals(3, ParallelInference.defaultThreads());
        } finally {
            if (old == null) System.clearProperty(ParallelInference.THREADS_PROPERTY);
            else System.setProperty(ParallelInference.THREADS_PROPERTY, old);
        }
    }
}
