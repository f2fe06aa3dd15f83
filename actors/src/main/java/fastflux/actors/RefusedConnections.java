package fastflux.actors;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.List;
import java.util.function.BiFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSession;
import org.apache.pekko.actor.AbstractActor;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.event.LogMarker;
import org.apache.pekko.event.Logging;
import org.apache.pekko.event.slf4j.Slf4jLoggingFilter;
import org.apache.pekko.remote.artery.tcp.ConfigSSLEngineProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One warning line for each connection that the remoting port drops: bytes that do not start with Artery's
 * protocol header (plain TCP on loopback), or a TLS handshake that fails (not TLS at all, no certificate, a
 * certificate from another CA). Pekko drops both silently: the framing error is only a debug event of its TCP
 * stage, and a failed handshake is not logged at all.
 */
public final class RefusedConnections {
    private RefusedConnections() {}

    static final Logger LOG = LoggerFactory.getLogger(RefusedConnections.class);

    /** Pekko's TCP connection stage, whose debug event names the peer and the framing error (Pekko 1.2). */
    static final String TCP_STAGE = "org.apache.pekko.stream.impl.io.TcpConnectionStage$TcpStreamLogic";
    private static final Pattern ABORTED = Pattern.compile(
            "Aborting connection from (\\S+) because of downstream failure: \\S*FramingException: (.*)", Pattern.DOTALL);
    private static final Pattern NO_MAGIC = Pattern.compile("Stream didn't start with expected magic bytes, got \\[([0-9a-f ]*)\\]");

    /**
     * Slf4j's filter, except that the TCP stage's debug events always reach the event stream, whatever
     * {@code pekko.loglevel} and logback say: {@link Listener} reads them there. Slf4jLogger only takes the
     * levels that pekko.loglevel asks for, so they are not printed twice.
     */
    public static final class Filter extends Slf4jLoggingFilter {
        public Filter(ActorSystem.Settings settings, org.apache.pekko.event.EventStream eventStream) {
            super(settings, eventStream);
        }

        @Override
        public boolean isDebugEnabled(Class<?> logClass, String logSource) {
            return TCP_STAGE.equals(logClass.getName()) || super.isDebugEnabled(logClass, logSource);
        }

        @Override
        public boolean isDebugEnabled(Class<?> logClass, String logSource, LogMarker marker) {
            return TCP_STAGE.equals(logClass.getName()) || super.isDebugEnabled(logClass, logSource, marker);
        }
    }

    /**
     * A logger ({@code pekko.loggers}) that turns the TCP stage's "aborting connection" debug events into
     * {@link #describe}'s warnings. Loggers start before the remoting port is bound, so no connection is missed;
     * it takes the debug events itself, whatever {@code pekko.loglevel} subscribed it to.
     */
    public static final class Listener extends AbstractActor {
        @Override
        public Receive createReceive() {
            return receiveBuilder()
                    .match(Logging.InitializeLogger.class, init -> {
                        init.bus().subscribe(getSelf(), Logging.Debug.class);
                        getSender().tell(Logging.loggerInitialized(), getSelf());
                    })
                    .match(Logging.Debug.class, d -> {
                        if (TCP_STAGE.equals(d.logClass().getName())) {
                            String line = describe(String.valueOf(d.message()));
                            if (line != null) LOG.warn(line);
                        }
                    })
                    .matchAny(other -> {})
                    .build();
        }
    }

    /** The warning for Pekko's "Aborting connection from H:P because of downstream failure: ..."; null if not a framing error. */
    static String describe(String pekkoDebug) {
        Matcher m = ABORTED.matcher(pekkoDebug);
        if (!m.matches()) return null;
        Matcher magic = NO_MAGIC.matcher(m.group(2));
        String why = magic.find()
                ? "its first bytes (" + magic.group(1) + ") are not Pekko Artery's protocol header"
                : "bad Artery framing (" + m.group(2).trim() + ")";
        return "dropped a connection from " + m.group(1) + " to the remoting port: " + why;
    }

    /** Why this JVM's last outgoing TLS handshake failed, for a client's error message; null if none did. */
    static final AtomicReference<String> LAST_CLIENT_FAILURE = new AtomicReference<>();

    /**
     * Pekko's TLS from {@code pekko.remote.artery.ssl.config-ssl-engine}; its server side logs one warning for each
     * connection whose handshake fails, and its client side keeps the reason for {@link DaemonClient}.
     */
    public static final class Tls extends ConfigSSLEngineProvider {
        public Tls(ActorSystem system) {
            super(system);
        }

        @Override
        public SSLEngine createServerSSLEngine(String hostname, int port) {
            return new Reporting(super.createServerSSLEngine(hostname, port), (established, e) -> {
                if (established) LOG.warn("dropped a TLS connection to the remoting port {}:{}: {}", hostname, port, e.getMessage());
                else LOG.warn("dropped a connection to the remoting port {}:{}: its TLS handshake failed ({})", hostname, port, e.getMessage());
            });
        }

        @Override
        public SSLEngine createClientSSLEngine(String hostname, int port) {
            // In TLS 1.3 a client's side of the handshake ends before the server has checked its certificate, so a
            // refusal arrives as an alert after it: kept whether or not the handshake had ended here.
            return new Reporting(super.createClientSSLEngine(hostname, port), (established, e) ->
                    LAST_CLIENT_FAILURE.set("TLS with " + hostname + ":" + port + " failed: " + e.getMessage()));
        }
    }

    /** An SSLEngine that reports the first SSLException of its connection (and whether the handshake had finished). */
    static final class Reporting extends SSLEngine {
        private final SSLEngine e;
        private final Report report;
        private final AtomicBoolean reported = new AtomicBoolean();
        private volatile boolean established;

        interface Report {
            void failed(boolean established, SSLException e);
        }

        Reporting(SSLEngine e, Report report) {
            super(e.getPeerHost(), e.getPeerPort());
            this.e = e;
            this.report = report;
        }

        private SSLEngineResult seen(SSLEngineResult r) {
            if (r.getHandshakeStatus() == SSLEngineResult.HandshakeStatus.FINISHED) established = true;
            return r;
        }

        private SSLException failed(SSLException x) {
            if (reported.compareAndSet(false, true)) report.failed(established, x);
            return x;
        }

        @Override
        public SSLEngineResult wrap(ByteBuffer[] srcs, int offset, int length, ByteBuffer dst) throws SSLException {
            try {
                return seen(e.wrap(srcs, offset, length, dst));
            } catch (SSLException x) {
                throw failed(x);
            }
        }

        @Override
        public SSLEngineResult unwrap(ByteBuffer src, ByteBuffer[] dsts, int offset, int length) throws SSLException {
            try {
                return seen(e.unwrap(src, dsts, offset, length));
            } catch (SSLException x) {
                throw failed(x);
            }
        }

        // Everything else is the wrapped engine's.
        @Override public Runnable getDelegatedTask() { return e.getDelegatedTask(); }
        @Override public void closeInbound() throws SSLException { e.closeInbound(); }
        @Override public boolean isInboundDone() { return e.isInboundDone(); }
        @Override public void closeOutbound() { e.closeOutbound(); }
        @Override public boolean isOutboundDone() { return e.isOutboundDone(); }
        @Override public String[] getSupportedCipherSuites() { return e.getSupportedCipherSuites(); }
        @Override public String[] getEnabledCipherSuites() { return e.getEnabledCipherSuites(); }
        @Override public void setEnabledCipherSuites(String[] suites) { e.setEnabledCipherSuites(suites); }
        @Override public String[] getSupportedProtocols() { return e.getSupportedProtocols(); }
        @Override public String[] getEnabledProtocols() { return e.getEnabledProtocols(); }
        @Override public void setEnabledProtocols(String[] protocols) { e.setEnabledProtocols(protocols); }
        @Override public SSLSession getSession() { return e.getSession(); }
        @Override public SSLSession getHandshakeSession() { return e.getHandshakeSession(); }
        @Override public void beginHandshake() throws SSLException { e.beginHandshake(); }
        @Override public SSLEngineResult.HandshakeStatus getHandshakeStatus() { return e.getHandshakeStatus(); }
        @Override public void setUseClientMode(boolean mode) { e.setUseClientMode(mode); }
        @Override public boolean getUseClientMode() { return e.getUseClientMode(); }
        @Override public void setNeedClientAuth(boolean need) { e.setNeedClientAuth(need); }
        @Override public boolean getNeedClientAuth() { return e.getNeedClientAuth(); }
        @Override public void setWantClientAuth(boolean want) { e.setWantClientAuth(want); }
        @Override public boolean getWantClientAuth() { return e.getWantClientAuth(); }
        @Override public void setEnableSessionCreation(boolean flag) { e.setEnableSessionCreation(flag); }
        @Override public boolean getEnableSessionCreation() { return e.getEnableSessionCreation(); }
        @Override public SSLParameters getSSLParameters() { return e.getSSLParameters(); }
        @Override public void setSSLParameters(SSLParameters params) { e.setSSLParameters(params); }
        @Override public String getApplicationProtocol() { return e.getApplicationProtocol(); }
        @Override public String getHandshakeApplicationProtocol() { return e.getHandshakeApplicationProtocol(); }

        @Override
        public void setHandshakeApplicationProtocolSelector(BiFunction<SSLEngine, List<String>, String> selector) {
            e.setHandshakeApplicationProtocolSelector(selector);
        }

        @Override
        public BiFunction<SSLEngine, List<String>, String> getHandshakeApplicationProtocolSelector() {
            return e.getHandshakeApplicationProtocolSelector();
        }
    }
}
