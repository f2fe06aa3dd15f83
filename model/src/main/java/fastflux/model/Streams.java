package fastflux.model;

import ai.djl.ndarray.NDArray;

/** The two token streams of a double-stream block: image [B, L_img, H] and text [B, L_txt, H]. */
public record Streams(NDArray img, NDArray txt) {}
