package fastflux.model;

import ai.djl.ndarray.NDArray;

/**
 * The hidden state between two blocks: the (img, txt) {@link Streams} of the double-stream stack, or the joint
 * sequence {@code cat(txt, img)} [B, L_txt + L_img, H] of the single-stream stack. Exactly one is set.
 * {@link #toJoint()} is the conversion {@link FluxModel#forward} makes at the double→single boundary.
 */
public record HiddenState(Streams streams, NDArray joint) {
    public HiddenState {
        if ((streams == null) == (joint == null)) {
            throw new IllegalArgumentException("a hidden state is either streams or a joint sequence, exactly one");
        }
    }

    public static HiddenState of(Streams s) {
        return new HiddenState(s, null);
    }

    public static HiddenState of(NDArray img, NDArray txt) {
        return new HiddenState(new Streams(img, txt), null);
    }

    public static HiddenState ofJoint(NDArray joint) {
        return new HiddenState(null, joint);
    }

    public boolean isJoint() {
        return joint != null;
    }

    /** The joint sequence {@code cat(txt, img)} along tokens (this state's own array when already joint). */
    public NDArray toJoint() {
        return joint != null ? joint : streams.txt().concat(streams.img(), 1);
    }

    /** The arrays of this state, in a fixed order: (img, txt) or (joint). */
    public NDArray[] arrays() {
        return joint != null ? new NDArray[] {joint} : new NDArray[] {streams.img(), streams.txt()};
    }
}
