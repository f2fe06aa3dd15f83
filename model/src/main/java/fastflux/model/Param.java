package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * One named weight tensor. The value is replaceable (loading, LoRA merging, optimiser steps),
 * the name and shape are not: they are the checkpoint contract.
 */
public final class Param {
    private final String name;
    private final Shape shape;
    private NDArray value;

    public Param(String name, Shape shape) {
        this.name = name;
        this.shape = shape;
    }

    public String name() {
        return name;
    }

    public Shape shape() {
        return shape;
    }

    public NDArray value() {
        if (value == null) throw new IllegalStateException("parameter " + name + " has no value (not loaded)");
        return value;
    }

    public boolean hasValue() {
        return value != null;
    }

    /** Sets the value, closing the previous array. The shape must match the declared one. */
    public void set(NDArray v) {
        if (!v.getShape().equals(shape)) {
            throw new IllegalArgumentException("parameter " + name + ": shape " + v.getShape() + " != expected " + shape);
        }
        if (value != null && value != v) value.close();
        value = v;
    }

    /** Puts {@code v} in place without closing the previous value, and returns that value (for temporary swaps). */
    public NDArray exchange(NDArray v) {
        if (!v.getShape().equals(shape)) {
            throw new IllegalArgumentException("parameter " + name + ": shape " + v.getShape() + " != expected " + shape);
        }
        NDArray old = value;
        value = v;
        return old;
    }
}
