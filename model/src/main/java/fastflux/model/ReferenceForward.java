package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import fastflux.model.io.SafetensorsReader;
import fastflux.sampling.EulerSampler;
import fastflux.sampling.Schedule;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Everything the reference fixture records for one set of inputs: the prediction, every block's output, the
 * rotary table, the schedule and each Euler step. Used by {@code fastflux forward} and the parity tests.
 */
public final class ReferenceForward {
    private ReferenceForward() {}

    /** Denoising settings of a fixture's config.json ({@code denoise_steps}, {@code denoise_guidance}, {@code denoise_shift}). */
    public record Denoise(int steps, float guidance, boolean shift) {
        public static Denoise of(com.google.gson.JsonObject config, FluxParams p) {
            int steps = config.has("denoise_steps") ? config.get("denoise_steps").getAsInt() : 4;
            float g = config.has("denoise_guidance") ? config.get("denoise_guidance").getAsFloat() : 4f;
            boolean shift = config.has("denoise_shift") ? config.get("denoise_shift").getAsBoolean() : p.guidanceEmbed();
            return new Denoise(steps, g, shift);
        }
    }

    /** Reads the inputs file (img, img_ids, txt, txt_ids, timesteps, y, optional guidance) into {@code m}. */
    public static FluxInputs readInputs(Path file, NDManager m) {
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            for (String k : new String[] {"img", "img_ids", "txt", "txt_ids", "timesteps", "y"}) {
                if (!r.contains(k)) throw new IllegalArgumentException(file + ": inputs need a tensor named '" + k + "'");
            }
            return new FluxInputs(r.load("img", m, DataType.FLOAT32), r.load("img_ids", m, DataType.FLOAT32),
                    r.load("txt", m, DataType.FLOAT32), r.load("txt_ids", m, DataType.FLOAT32),
                    r.load("timesteps", m, DataType.FLOAT32), r.load("y", m, DataType.FLOAT32),
                    r.contains("guidance") ? r.load("guidance", m, DataType.FLOAT32) : null);
        }
    }

    /**
     * All recorded outputs as fp32 arrays in {@code m}, named as the fixture's expected.safetensors.
     * The reference records block outputs with forward hooks, which keep the latest model call: the block
     * outputs are those of the last call of the denoising loop (checked against flux-tiny-a: the first call
     * differs by 3.2, the last agrees to 5e-5). This does the same.
     */
    public static Map<String, NDArray> compute(FluxModel model, FluxInputs in, Denoise denoise, NDManager m) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        Map<String, NDArray> blocks = new LinkedHashMap<>();
        BlockTap hooks = new BlockTap() {
            @Override
            public void doubleBlock(int i, Streams x, Streams y) {
                record("double_blocks." + i + ".img", y.img());
                record("double_blocks." + i + ".txt", y.txt());
            }

            @Override
            public void singleBlock(int i, NDArray x, NDArray y) {
                record("single_blocks." + i, y);
            }

            private void record(String name, NDArray a) {
                NDArray old = blocks.put(name, keep(a, m));
                if (old != null) old.close();
            }
        };
        try (NDManager scope = m.newSubManager()) {
            in.tempAttach(scope);
            out.put("pred", keep(model.forward(in, hooks), m));
            try (Rope pe = model.rope(in)) {
                out.put("pe", keep(pe.referenceTable(), m));
            }
        }
        int lImg = (int) in.img().getShape().get(1);
        float[] schedule = Schedule.timesteps(denoise.steps(), lImg, denoise.shift());
        out.put("schedule", Tensors.create(m, schedule, new Shape(schedule.length)));
        long b = in.img().getShape().get(0);
        EulerSampler.sample(in.img(), schedule, (x, t, scope) -> {
            NDArray guidance = model.config().guidanceEmbed() ? scope.full(new Shape(b), denoise.guidance()) : null;
            FluxInputs step = new FluxInputs(x, in.imgIds(), in.txt(), in.txtIds(), scope.full(new Shape(b), t), in.y(), guidance);
            step.tempAttach(scope);
            return model.forward(step, hooks);
        }, (k, x) -> out.put("denoise.step" + k, keep(x, m)));
        out.putAll(blocks);
        return out;
    }

    private static NDArray keep(NDArray a, NDManager m) {
        NDArray c = a.toType(DataType.FLOAT32, true);
        c.attach(m);
        return c;
    }
}
