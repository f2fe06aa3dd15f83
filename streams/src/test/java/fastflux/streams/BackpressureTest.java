package fastflux.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.apache.pekko.Done;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.testkit.TestSubscriber;
import org.apache.pekko.stream.testkit.javadsl.TestSink;
import org.junit.jupiter.api.Test;

/**
 * The pipeline's bounds, shown structurally with stand-in stages whose futures the test completes by hand: a
 * consumer that does not ask stops the producer at exactly the configured bounds, and each element it asks for
 * lets exactly one more item in. Nothing here depends on timing; waits only let the stream settle.
 */
class BackpressureTest extends StreamsTestSystem {
    static final CalibrationPipeline.Options OPTIONS = new CalibrationPipeline.Options(1, 3, 2);

    @Test
    void aConsumerThatDoesNotRequestStopsTheProducerAtTheBounds() {
        InFlight inFlight = new InFlight();
        TestSubscriber.Probe<Integer> consumer = Source.from(IntStream.range(0, 100).boxed().toList())
                .via(CalibrationPipeline.denoiseStage((Integer i) -> CompletableFuture.completedFuture(i), OPTIONS, inFlight))
                .runWith(TestSink.probe(system), mat);
        consumer.ensureSubscription();
        // Nothing requested: the denoise stage fills its parallelism, the buffer fills, and then the source is idle.
        int filled = OPTIONS.parallelism() + OPTIONS.buffer();
        awaitEntered(inFlight, filled);
        consumer.expectNoMessage(Duration.ofMillis(300));
        assertEquals(filled, inFlight.entered(), "items taken from the source while the consumer asks for nothing");
        for (int k = 0; k < 10; k++) {
            consumer.request(1);
            assertEquals(k, consumer.expectNext().intValue(), "order preserved");
            awaitEntered(inFlight, filled + k + 1);
            consumer.expectNoMessage(Duration.ofMillis(50));
            assertEquals(filled + k + 1, inFlight.entered(), "one element consumed lets exactly one more in");
        }
        consumer.cancel();
    }

    @Test
    void aThrottledSinkKeepsElementsInFlightWithinTheBoundAndFoldsInOrder() throws Exception {
        int n = 40;
        InFlight inFlight = new InFlight();
        // Denoise results complete out of order (each batch of futures in reverse), the sink folds only when the
        // test lets it: in flight never exceeds parallelism + buffer + 1, and folds happen in item order.
        LinkedBlockingQueue<Integer> denoiseCalls = new LinkedBlockingQueue<>();
        List<CompletableFuture<Integer>> denoised = Collections.synchronizedList(new ArrayList<>());
        LinkedBlockingQueue<CompletableFuture<Void>> folds = new LinkedBlockingQueue<>();
        List<Integer> folded = Collections.synchronizedList(new ArrayList<>());
        int[] worst = {0};
        CompletionStage<Done> done = CalibrationPipeline.graph(Source.from(IntStream.range(0, n).boxed().toList()),
                (Integer i) -> {
                    CompletableFuture<Integer> f = new CompletableFuture<>();
                    denoised.add(f);
                    denoiseCalls.add(i);
                    return f;
                },
                (Integer i) -> {
                    folded.add(i);
                    synchronized (worst) {
                        worst[0] = Math.max(worst[0], inFlight.now());
                    }
                    CompletableFuture<Void> f = new CompletableFuture<>();
                    folds.add(f);
                    return f;
                }, OPTIONS, inFlight).run(mat);
        int completed = 0;
        while (folded.size() < n || !folds.isEmpty()) {
            // complete every denoise call made so far, newest first
            List<CompletableFuture<Integer>> open = new ArrayList<>();
            synchronized (denoised) {
                for (int k = denoised.size() - 1; k >= completed; k--) open.add(denoised.get(k));
                completed = denoised.size();
            }
            denoiseCalls.clear();
            for (int k = 0; k < open.size(); k++) open.get(k).complete(completed - 1 - k);
            CompletableFuture<Void> fold = folds.poll(100, TimeUnit.MILLISECONDS);
            if (fold == null) continue;
            // the sink is busy with one element: let the stream settle, then look at what is in flight
            denoiseCalls.poll(100, TimeUnit.MILLISECONDS);
            assertTrue(inFlight.now() <= OPTIONS.bound(), "in flight " + inFlight.now() + " > " + OPTIONS.bound());
            fold.complete(null);
        }
        done.toCompletableFuture().get(30, TimeUnit.SECONDS);
        assertEquals(IntStream.range(0, n).boxed().toList(), folded, "folded in item order");
        assertEquals(OPTIONS.bound(), inFlight.max(), "the bound is reached, never exceeded");
        assertTrue(worst[0] <= OPTIONS.bound());
    }

    /** Waits (without asserting on time) until the source has handed out {@code n} items. */
    static void awaitEntered(InFlight inFlight, int n) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (inFlight.entered() < n && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
    }
}
