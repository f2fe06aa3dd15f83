package fastflux.http;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code GET /metrics}: a Prometheus registry added to Micrometer's global registry, so that every meter recorded
 * there (the job's, the JVM's) is scraped here, plus the API's own: connected SSE clients and requests by method
 * and status. The API's meters are this registry's own, so two servers in one JVM (tests) count apart.
 */
final class ApiMetrics implements AutoCloseable {
    final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    final AtomicInteger sseClients = new AtomicInteger();

    ApiMetrics() {
        Gauge.builder("fastflux.http.sse.clients", sseClients, AtomicInteger::get)
                .description("clients connected to a job's event stream").register(registry);
        Metrics.globalRegistry.add(registry);
    }

    void request(String method, int status) {
        Counter.builder("fastflux.http.requests").description("HTTP requests answered, by method and status")
                .tag("method", method).tag("status", Integer.toString(status)).register(registry).increment();
    }

    String scrape() {
        return registry.scrape();
    }

    @Override
    public void close() {
        Metrics.globalRegistry.remove(registry);
        registry.close();
    }
}
