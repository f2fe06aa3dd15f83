package fastflux.actors;

/**
 * Marker of every message that crosses the wire between the daemon and its clients. Bound to
 * {@link KryoSerializer} in fastflux-pekko.conf; Java serialization is off, so anything else sent remotely is
 * refused at the sender.
 */
public interface WireMessage {}
