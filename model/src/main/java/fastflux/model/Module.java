package fastflux.model;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A piece of the network that owns named parameters. Names follow the reference checkpoint
 * ({@code double_blocks.0.img_attn.qkv.weight}), so loading and saving is a walk over {@link #params()}.
 */
public abstract class Module {
    private final String prefix;

    protected Module(String prefix) {
        this.prefix = prefix;
    }

    /** Dotted prefix of this module's parameters, e.g. {@code double_blocks.3.}. */
    public String prefix() {
        return prefix;
    }

    protected String child(String name) {
        return prefix + name;
    }

    /** Every parameter of this module and its children, by full name, in declaration order. */
    public final Map<String, Param> params() {
        Map<String, Param> out = new LinkedHashMap<>();
        collect(out);
        return out;
    }

    protected abstract void collect(Map<String, Param> out);

    protected static void put(Map<String, Param> out, Param p) {
        if (p != null) out.put(p.name(), p);
    }
}
