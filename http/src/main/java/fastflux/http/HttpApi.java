package fastflux.http;

import com.google.gson.JsonObject;
import com.typesafe.config.ConfigSyntax;
import fastflux.actors.JobSpec;
import fastflux.actors.NodeSupervisor;
import fastflux.actors.Protocol;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.http.javadsl.marshalling.sse.EventStreamMarshalling;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's HTTP API: every route, in one place. It asks the node in this JVM ({@link NodeSupervisor}) with
 * the same messages as the command-line clients, so the answers, validation and errors are theirs
 * (docs/http-api.md; the OpenAPI document {@code fastflux/http/openapi.json} lists the same routes).
 *
 * <pre>
 *   GET  /health                          live: the process answers
 *   GET  /ready                           ready for jobs: node answers, fleet membership up, not shutting down (503)
 *   GET  /metrics                         Prometheus text (Micrometer's global registry and the API's own meters)
 *   GET  /api/v1/openapi.json             this API's OpenAPI 3 document
 *   GET  /api/v1/jobs                     the fleet's jobs, as `fastflux status --json`
 *   POST /api/v1/jobs                     queue a job: JSON or HOCON by Content-Type, as `fastflux submit`  [control]
 *   GET  /api/v1/jobs/{id}                one job of the fleet: state, phase, progress, ETA, losses, options, outputs
 *   POST /api/v1/jobs/{id}/pause|resume|cancel                                                        [control]
 *   GET  /api/v1/jobs/{id}/events         Server-Sent Events: progress as `fastflux watch --json` prints it
 *   GET  /api/v1/jobs/{id}/history        every replaced block's residuals and training losses, and the
 *                                         sandwich training now step by step (back-fill)
 *   GET  /api/v1/jobs/{id}/report         the job's report.json                    (421 for another member's job)
 *   GET  /api/v1/jobs/{id}/files/{path}   a file of the job's output directory (charts, image grids), confined to it
 *                                         (421 for another member's job, naming that member's API)
 *   a job's routes answer for a job of any fleet member (?node=HOST:PORT picks one when several have the id)
 *   GET  /  and  /static/{file}           the dashboard (classpath fastflux/http/dashboard/)
 * </pre>
 *
 * Every error is JSON, {@code {"error": "..."}}, with a 4xx status (5xx only for the server's own faults).
 */
public final class HttpApi extends AllDirectives {
    /**
     * Every route this API serves, as the table above and the OpenAPI document list them ({@code HttpApiTest}
     * holds the three to each other and to what the server answers).
     */
    static final java.util.List<String> ROUTES = java.util.List.of("GET /health", "GET /ready", "GET /metrics",
            "GET /api/v1/openapi.json", "GET /api/v1/jobs", "POST /api/v1/jobs", "GET /api/v1/jobs/{id}",
            "POST /api/v1/jobs/{id}/pause", "POST /api/v1/jobs/{id}/resume", "POST /api/v1/jobs/{id}/cancel",
            "GET /api/v1/jobs/{id}/events", "GET /api/v1/jobs/{id}/history", "GET /api/v1/jobs/{id}/report",
            "GET /api/v1/jobs/{id}/files/{path}", "GET /", "GET /static/{file}");

    private static final java.util.Set<String> ACTIONS = java.util.Set.of("pause", "resume", "cancel");

    /** Who made each control action: one line per action, on this logger. */
    static final Logger AUDIT = LoggerFactory.getLogger("fastflux.audit");
    private static final Logger LOG = LoggerFactory.getLogger(HttpApi.class);
    static final String DASHBOARD = "fastflux/http/dashboard";
    static final String OPENAPI = "fastflux/http/openapi.json";

    private final ActorSystem<NodeSupervisor.Command> system;
    private final HttpSettings settings;
    private final ApiMetrics metrics;
    private final int relayWindow;

    HttpApi(ActorSystem<NodeSupervisor.Command> system, HttpSettings settings, ApiMetrics metrics) {
        this.system = system;
        this.settings = settings;
        this.metrics = metrics;
        this.relayWindow = system.settings().config().getInt("fastflux.daemon.watcher-buffer");
    }

    /** Every route, sealed: rejections and exceptions become JSON errors, and each answer is counted. */
    public Route route() {
        return extractRequest(req -> mapResponse(r -> {
            metrics.request(req.method().value(), r.status().intValue());
            return r;
        }, () -> handleExceptions(errors(), () -> handleRejections(rejections(), this::routes))));
    }

    private Route routes() {
        return concat(
                path("health", () -> get(() -> complete(json(200, "{\"status\":\"up\"}")))),
                path("ready", () -> get(() -> completeWithFuture(ready()))),
                path("metrics", () -> get(() -> authorized(Tokens.Role.READ, who -> complete(HttpResponse.create()
                        .withEntity(HttpEntities.create(ContentTypes.create(MediaTypes.TEXT_PLAIN, org.apache.pekko.http.javadsl.model.HttpCharsets.UTF_8),
                                metrics.scrape())))))),
                pathPrefix("api", () -> pathPrefix("v1", () -> concat(
                        path("openapi.json", () -> get(() -> getFromResource(OPENAPI, ContentTypes.APPLICATION_JSON))),
                        pathPrefix("jobs", () -> concat(
                                pathEndOrSingleSlash(() -> concat(
                                        get(() -> authorized(Tokens.Role.READ, who -> completeWithFuture(fleet()))),
                                        post(() -> authorized(Tokens.Role.CONTROL, this::submit)))),
                                pathPrefix(PathMatchers.segment(), this::job)))))),
                pathSingleSlash(() -> get(() -> getFromResource(DASHBOARD + "/index.html", ContentTypes.TEXT_HTML_UTF8))),
                pathPrefix("static", () -> get(() -> getFromResourceDirectory(DASHBOARD))));
    }

    /**
     * A job of any fleet member: the node that has it is found first ({@link NodeSupervisor.Locate}: this daemon's
     * own job first, {@code ?node=HOST:PORT} picks a member when several have the id) and asked directly through
     * the cluster. Its state, history, events and control are relayed; its report and files are served by the
     * daemon that has the job (421 naming that member's API for another member's job).
     */
    private Route job(String id) {
        return parameterOptional("node", node -> concat(
                pathEndOrSingleSlash(() -> get(() -> authorized(Tokens.Role.READ, who -> located(id, node, at -> completeWithFuture(jobDetail(at)))))),
                path("events", () -> get(() -> authorized(Tokens.Role.READ, who -> located(id, node, at -> events(at))))),
                path("history", () -> get(() -> authorized(Tokens.Role.READ, who -> located(id, node, at -> completeWithFuture(
                        history(at).thenApply(h -> json(200, h.getAsJsonObject("history").toString()))))))),
                path("report", () -> get(() -> authorized(Tokens.Role.READ, who -> located(id, node, at -> local(at, "report", () -> {
                    Path f = Path.of(at.job().out()).resolve("report.json");
                    if (!Files.isRegularFile(f)) return complete(error(404, id + " has no report yet (" + f + ")"));
                    return getFromFile(f.toFile(), ContentTypes.APPLICATION_JSON);
                }))))),
                pathPrefix("files", () -> path(PathMatchers.remaining(), rest -> get(() -> authorized(Tokens.Role.READ,
                        who -> located(id, node, at -> local(at, "files/" + rest, () -> {
                            try {
                                return getFromFile(JobFiles.resolve(Path.of(at.job().out()), rest).toFile());
                            } catch (JobFiles.Refused r) {
                                return complete(error(r.status, r.getMessage()));
                            }
                        })))))),
                // only the three actions are routes: any other segment is an unknown route (404), whatever the method
                path(PathMatchers.segment(), action -> ACTIONS.contains(action)
                        ? post(() -> authorized(Tokens.Role.CONTROL, who -> located(id, node, at -> control(who, action, at),
                                refused -> AUDIT.info("token={} action={} job={} result=refused: {}", who.name(), action, id, refused))))
                        : complete(error(404, "no route /api/v1/jobs/" + id + "/" + action + " (a job's actions: pause, resume or cancel)")))));
    }

    /** The fleet member that has job {@code id}, or the JSON error why none can answer for it. */
    private Route located(String id, Optional<String> node, Function<NodeSupervisor.Located, Route> inner) {
        return located(id, node, inner, refused -> {});
    }

    /** As above; {@code refused} sees the error when no member can answer for the job (a control action audits it). */
    private Route located(String id, Optional<String> node, Function<NodeSupervisor.Located, Route> inner,
                          java.util.function.Consumer<String> refused) {
        Duration t = settings.askTimeout().plus(NodeSupervisor.FLEET_TIMEOUT);
        CompletionStage<NodeSupervisor.Located> at = AskPattern.ask(system, r -> new NodeSupervisor.Locate(id, node.orElse(""), r),
                t, system.scheduler());
        return onSuccess(at, l -> {
            if (l.owner() != null) return inner.apply(l);
            refused.accept(l.error());
            return complete(error(l.status(), l.error()));
        });
    }

    /**
     * A route that reads the job's output directory: here for this daemon's job; for another member's, 421
     * (Misdirected Request) naming that member and its API, whose own route serves the file.
     */
    private Route local(NodeSupervisor.Located at, String what, java.util.function.Supplier<Route> here) {
        if (at.local()) return here.get();
        CompletionStage<Protocol.ApiAddress> api = asking(at, r -> new NodeSupervisor.GetApi(r));
        return onSuccess(api, a -> {
            String where = a.url() == null ? "its own daemon (which serves no HTTP API)"
                    : a.url() + "api/v1/jobs/" + at.job().id() + "/" + what;
            HttpResponse r = error(421, at.job().id() + " runs on fleet member " + at.node() + "; its " + what.replaceAll("/.*", "")
                    + " are served by that member's API: " + where);
            return complete(a.url() == null ? r : r.addHeader(RawHeader.create("Location", where)));
        });
    }

    // ---- answers

    private CompletionStage<HttpResponse> fleet() {
        return this.<Protocol.FleetStatusReply>ask(NodeSupervisor.GetFleetStatus::new)
                .thenApply(f -> json(200, JobJson.fleet(f).toString()));
    }

    private CompletionStage<HttpResponse> jobDetail(NodeSupervisor.Located at) {
        CompletionStage<NodeSupervisor.SpecReply> spec = asking(at, r -> new NodeSupervisor.GetSpec(at.job().id(), r));
        return spec.thenCombine(history(at), (sp, h) -> {
            Protocol.JobInfo j = at.job();
            JsonObject o = JobJson.job(j);
            o.addProperty("node", at.node());
            JsonObject progress = new JsonObject();
            progress.addProperty("blocks_done", j.done());
            progress.addProperty("blocks_total", j.total());
            o.add("progress", progress);
            if (sp.spec() != null) o.add("options", sp.spec().toJson());
            o.add("losses", JobFiles.losses(h.getAsJsonObject("history")));
            o.add("outputs", h.getAsJsonArray("outputs"));
            return json(200, o.toString());
        });
    }

    /** The job's history and outputs as the member that has it reads them: {@code {"history": ..., "outputs": [...]}}. */
    private CompletionStage<JsonObject> history(NodeSupervisor.Located at) {
        return this.<Protocol.HistoryReply>asking(at, r -> new NodeSupervisor.GetHistory(at.job().id(), r)).thenApply(h -> {
            if (h.error() != null) throw new IllegalStateException(h.error());
            return com.google.gson.JsonParser.parseString(fastflux.actors.JobHistory.gunzip(h.gzippedJson())).getAsJsonObject();
        });
    }

    /** Asks the member that has the job; one that does not answer in time is named in a 503. */
    private <R> CompletionStage<R> asking(NodeSupervisor.Located at, Function<ActorRef<R>, NodeSupervisor.Command> message) {
        Duration t = settings.askTimeout();
        CompletionStage<R> r = AskPattern.ask(at.owner(), message::apply, t, system.scheduler());
        return r.exceptionally(e -> {
            Throwable c = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
            if (c instanceof java.util.concurrent.TimeoutException || c instanceof org.apache.pekko.pattern.AskTimeoutException) {
                throw new MemberSilent(at.node(), t);
            }
            throw e instanceof RuntimeException re ? re : new CompletionException(e);
        });
    }

    /** The member that has a job did not answer: 503 naming it. */
    static final class MemberSilent extends RuntimeException {
        MemberSilent(String node, Duration t) {
            super("fleet member " + node + " (which has the job) did not answer within " + t.toSeconds() + " s", null, false, false);
        }
    }

    private Route events(NodeSupervisor.Located at) {
        return onSuccess(EventStream.open(system, at.owner(), at.job().id(), settings, relayWindow, metrics.sseClients), source -> source.isEmpty()
                ? complete(error(404, "no job " + at.job().id() + " on " + at.node()))
                : completeOK(source.get(), EventStreamMarshalling.toEventStream()));
    }

    private Route control(Tokens.Entry who, String action, NodeSupervisor.Located at) {
        String id = at.job().id();
        Function<ActorRef<Protocol.Reply>, NodeSupervisor.Command> message = switch (action) {
            case "pause" -> r -> new NodeSupervisor.Pause(id, r);
            case "resume" -> r -> new NodeSupervisor.Resume(id, r);
            case "cancel" -> r -> new NodeSupervisor.Cancel(id, r);
            default -> throw new IllegalArgumentException(action);
        };
        return completeWithFuture(this.<Protocol.Reply>asking(at, message).thenApply(r -> {
            audit(who, action, at.local() ? id : id + "@" + at.node(), r);
            if (r.ok()) return json(200, reply(r).toString());
            return error(r.message().startsWith("no job ") ? 404 : 409, r.message());
        }));
    }

    private Route submit(Tokens.Entry who) {
        return withSizeLimit(settings.maxBody(), () -> extractRequestEntity(entity -> {
            String type = entity.getContentType().mediaType().toString();
            ConfigSyntax syntax = switch (type) {
                case "application/json" -> ConfigSyntax.JSON;
                case "application/hocon", "text/plain", "application/x-hocon" -> ConfigSyntax.CONF;
                default -> null;
            };
            if (syntax == null) {
                return complete(error(415, "a job is application/json or application/hocon (text/plain), not " + type));
            }
            return entity(Unmarshaller.entityToString(), text -> {
                JobSpec spec;
                try {
                    spec = JobSpec.parse(text, syntax, "request body");
                    spec.validateOptions();
                } catch (IllegalArgumentException e) {
                    AUDIT.info("token={} action=submit job=- result=refused: {}", who.name(), e.getMessage());
                    return complete(error(400, e.getMessage()));
                }
                return completeWithFuture(this.<Protocol.Reply>ask(r -> new NodeSupervisor.Place(spec, r)).thenApply(r -> {
                    audit(who, "submit", r.jobId() == null ? "-" : r.jobId(), r);
                    // a job its plan cannot fit is well formed but cannot run here: 422, the plan's refusal as the error
                    return r.ok() ? json(201, reply(r).toString())
                            : error(fastflux.pruning.plan.JobPlanner.refusal(r.message()) ? 422 : 400, r.message());
                }));
            });
        }));
    }

    private static JsonObject reply(Protocol.Reply r) {
        JsonObject o = new JsonObject();
        o.addProperty("id", r.jobId());
        o.addProperty("message", r.message());
        return o;
    }

    private static void audit(Tokens.Entry who, String action, String id, Protocol.Reply r) {
        AUDIT.info("token={} action={} job={} result={}", who.name(), action, id, r.ok() ? "ok" : "refused: " + r.message());
    }

    private CompletionStage<HttpResponse> ready() {
        CoordinatedShutdown cs = CoordinatedShutdown.get(system);
        if (cs.getShutdownReason().isPresent()) return CompletableFuture.completedFuture(error(503, "shutting down"));
        if (system.settings().config().getString("pekko.actor.provider").equals("cluster")) {
            MemberStatus status = Cluster.get(system).selfMember().status();
            if (status != MemberStatus.up()) {
                return CompletableFuture.completedFuture(error(503, "not a member of the fleet yet (cluster status " + status + ")"));
            }
        }
        return this.<Protocol.StatusReply>ask(r -> new NodeSupervisor.GetStatus("", r))
                .thenApply(s -> json(200, "{\"status\":\"ready\",\"jobs\":" + s.jobs().length + "}"))
                .exceptionally(e -> error(503, "the node did not answer: " + e.getMessage()));
    }

    // ---- security

    /** The caller with {@code role} or more: 401 without a known bearer token, 403 with one of too small a role. */
    private Route authorized(Tokens.Role role, Function<Tokens.Entry, Route> inner) {
        if (!settings.auth()) return inner.apply(LOOPBACK);
        return optionalHeaderValueByName("Authorization", header -> {
            String h = header.orElse("");
            if (!h.regionMatches(true, 0, "Bearer ", 0, 7) || h.substring(7).isBlank()) {
                return complete(error(401, "this API needs a bearer token: Authorization: Bearer TOKEN")
                        .addHeader(RawHeader.create("WWW-Authenticate", "Bearer realm=\"fastflux\"")));
            }
            Tokens.Entry who = Tokens.find(settings.tokens(), h.substring(7).trim());
            if (who == null) {
                return complete(error(401, "unknown bearer token").addHeader(RawHeader.create("WWW-Authenticate",
                        "Bearer realm=\"fastflux\", error=\"invalid_token\"")));
            }
            if (role == Tokens.Role.CONTROL && who.role() != Tokens.Role.CONTROL) {
                return complete(error(403, "token " + who.name() + " has the read role; this needs control"));
            }
            return inner.apply(who);
        });
    }

    /** The caller on loopback when no token is required. */
    static final Tokens.Entry LOOPBACK = new Tokens.Entry("loopback", Tokens.Role.CONTROL, new byte[32]);

    // ---- plumbing

    private <R> CompletionStage<R> ask(Function<ActorRef<R>, NodeSupervisor.Command> message) {
        Duration t = settings.askTimeout();
        return AskPattern.ask(system, message::apply, t, system.scheduler());
    }

    static HttpResponse json(int status, String body) {
        return HttpResponse.create().withStatus(status).withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, body));
    }

    static HttpResponse error(int status, String message) {
        return json(status, JobJson.error(message));
    }

    /** Pekko's own rejections (no route, wrong method, ...) with their status, the text as a JSON error. */
    private static RejectionHandler rejections() {
        return RejectionHandler.defaultHandler().mapRejectionResponse(r -> {
            if (r.entity().getContentType().mediaType().equals(MediaTypes.APPLICATION_JSON)) return r;
            String text = r.entity() instanceof org.apache.pekko.http.javadsl.model.HttpEntity.Strict s
                    ? s.getData().utf8String() : r.status().reason();
            if (r.status().intValue() == 413) text = "request body too large (fastflux.http.max-body): " + text;
            return r.withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, JobJson.error(text)));
        });
    }

    private ExceptionHandler errors() {
        return ExceptionHandler.newBuilder()
                .match(EntityStreamSizeException.class, e -> complete(error(413, "request body larger than "
                        + e.limit() + " bytes (fastflux.http.max-body)")))
                .match(MemberSilent.class, e -> complete(error(503, e.getMessage())))
                .match(CompletionException.class, e -> e.getCause() instanceof EntityStreamSizeException s
                        ? complete(error(413, "request body larger than " + s.limit() + " bytes (fastflux.http.max-body)"))
                        : e.getCause() instanceof MemberSilent m ? complete(error(503, m.getMessage()))
                        : complete(error(503, "the daemon did not answer: " + e.getCause())))
                .match(org.apache.pekko.pattern.AskTimeoutException.class, e -> complete(error(503, "the daemon did not answer in time")))
                .match(Exception.class, e -> {
                    LOG.error("HTTP request failed", e);
                    return complete(error(500, e.toString()));
                })
                .build();
    }
}
