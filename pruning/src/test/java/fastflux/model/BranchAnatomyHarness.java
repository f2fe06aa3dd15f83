package fastflux.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.pruning.AffineMap;
import fastflux.pruning.Calibration;
import fastflux.pruning.CalibrationConsumer;
import fastflux.pruning.LeastSquaresFit;
import fastflux.pruning.PruneJob;
import fastflux.pruning.ResidualMeter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Why is a double block's image branch not per-token linear at the noisy steps? Runs the prune job's own
 * calibration stream over the unpruned base model and, for one double block's image stream, fits per-token
 * least-squares maps from several inputs to several targets on the training batches (every 4th batch held out,
 * as BRLL does), then prints per sampler step the held-out relative residual of each:
 * <ul>
 *   <li>{@code F~X}: BRLL itself, the branch {@code F = Y − X} from the token's own hidden state, one map for every step;
 *   <li>{@code F~X/step}: one map per sampler step (what a timestep-aware linear could reach);
 *   <li>{@code A~X}, {@code M~X}: the branch split into its attention half ({@code gate₁·proj(attn)}) and the rest
 *       (the MLP half, which reads the attention output);
 *   <li>{@code F~X,txt}, {@code F~X,vec}, {@code F~X,txt,vec}: the token's state with the prompt's mean text token
 *       and/or the conditioning vector appended (what information from outside the token would add);
 * </ul>
 * and the share of each step's energy that the attention half carries and that attention to text keys carries
 * ({@code ‖A − A_img‖² / ‖A‖²}, {@code A_img} the same attention with image keys only). Diagnostic only:
 * {@code java -cp ... fastflux.model.BranchAnatomyHarness [BASE_DIR] [BLOCK_INDEX]}.
 */
public final class BranchAnatomyHarness {
    private static final int HOLDOUT_EVERY = 4;

    private record Fit(String name, boolean perStep, List<LeastSquaresFit> fits, List<ResidualMeter> meters) {}

    public static void main(String[] args) throws Exception {
        Path base = Path.of(args.length > 0 ? args[0] : "models/shapes-tiny");
        int index = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        try (NDManager m = NDManager.newBaseManager()) {
            Path out = Files.createTempDirectory("anatomy");
            PruneJob job = new PruneJob(base, out, PruneJob.Options.defaults(0.25), PruneJob.Listener.NONE, m);
            Calibration cal = job.calibration();
            FluxModel model = cal.model();
            DoubleStreamBlock block = (DoubleStreamBlock) model.doubleBlocks().get(index);
            int h = model.config().hiddenSize();
            int steps = cal.options().steps();

            Map<String, Fit> fits = new LinkedHashMap<>();
            String[] names = {"F~X", "F~X/step", "A~X", "M~X", "F~X,txt", "F~X,vec", "F~X,txt,vec"};
            int[] dims = {h, h, h, h, 2 * h, 2 * h, 3 * h};
            for (int i = 0; i < names.length; i++) {
                boolean perStep = names[i].endsWith("/step");
                List<LeastSquaresFit> fl = new ArrayList<>();
                for (int s = 0; s < (perStep ? steps : 1); s++) fl.add(new LeastSquaresFit(names[i], dims[i], h));
                fits.put(names[i], new Fit(names[i], perStep, fl, new ArrayList<>()));
            }
            double[] energyF = new double[steps], energyA = new double[steps], energyTxtAttn = new double[steps];

            for (int pass = 0; pass < 2; pass++) {
                boolean measure = pass == 1;
                if (measure) {
                    for (Fit f : fits.values()) {
                        List<AffineMap> maps = new ArrayList<>();
                        for (LeastSquaresFit l : f.fits()) maps.add(l.solve(LeastSquaresFit.DEFAULT_RIDGE));
                        for (int s = 0; s < steps; s++) f.meters().add(new ResidualMeter(maps.get(f.perStep() ? s : 0)));
                    }
                }
                cal.run(new CalibrationConsumer() {
                    @Override
                    public boolean wants(int b) {
                        return (b % HOLDOUT_EVERY == HOLDOUT_EVERY - 1) == measure;
                    }

                    @Override
                    public BlockTap tap(Calibration.Step step) {
                        return new BlockTap() {
                            @Override
                            public void doubleBlock(int i, Streams in, Streams outS) {
                                if (i != index) return;
                                observe(block, model, step, in, outS, fits, measure,
                                        energyF, energyA, energyTxtAttn);
                            }
                        };
                    }
                });
            }

            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "double_blocks.%d/img, held-out relative residual per step%n%-14s", index, "fit"));
            for (int s = 0; s < steps; s++) sb.append(String.format(Locale.ROOT, "%7d", s));
            sb.append(String.format(Locale.ROOT, "%8s%n", "all"));
            for (Fit f : fits.values()) {
                sb.append(String.format(Locale.ROOT, "%-14s", f.name()));
                for (ResidualMeter r : f.meters()) sb.append(String.format(Locale.ROOT, "%7.3f", r.relativeResidual()));
                sb.append(String.format(Locale.ROOT, "%8.3f%n", ResidualMeter.relativeResidual(f.meters())));
            }
            sb.append(String.format(Locale.ROOT, "%-14s", "|F|^2/token"));
            for (int s = 0; s < steps; s++) sb.append(String.format(Locale.ROOT, "%7.2f", fits.get("F~X").meters().get(s).branchEnergy()));
            sb.append(String.format(Locale.ROOT, "%n%-14s", "|A|^2/|F|^2"));
            for (int s = 0; s < steps; s++) sb.append(String.format(Locale.ROOT, "%7.3f", energyA[s] / energyF[s]));
            sb.append(String.format(Locale.ROOT, "%n%-14s", "txt-key share"));
            for (int s = 0; s < steps; s++) sb.append(String.format(Locale.ROOT, "%7.3f", energyTxtAttn[s] / energyA[s]));
            System.out.println(sb.append('\n'));
        }
    }

    private static void observe(DoubleStreamBlock b, FluxModel model, Calibration.Step step, Streams in, Streams out,
                                Map<String, Fit> fits, boolean measure, double[] eF, double[] eA, double[] eTxt) {
        int s = step.step();
        NDArray x = in.img(); // [b, Li, H]
        long li = x.getShape().get(1);
        NDArray f = out.img().sub(x);
        NDArray vec = step.conditionalVec(model); // [b, H]
        NDArray ids = step.conditionalIds();
        long lt = in.txt().getShape().get(1);
        try (Rope pe = model.rope(ids); Rope peImg = model.rope(ids.get(":, {}:", lt))) {
            Modulation.Out[] im = b.imgMod.forward(vec);
            Modulation.Out[] tm = b.txtMod.forward(vec);
            NDArray[] iq = b.imgAttn.qkv(Nn.modulate(Nn.layerNorm(x), im[0].shift(), im[0].scale()));
            NDArray[] tq = b.txtAttn.qkv(Nn.modulate(Nn.layerNorm(in.txt()), tm[0].shift(), tm[0].scale()));
            NDArray attn = Attention.attention(tq[0].concat(iq[0], 2), tq[1].concat(iq[1], 2), tq[2].concat(iq[2], 2), pe);
            NDArray a = b.imgAttn.proj.forward(attn.get(":, {}:", lt)).mul(im[0].gate());
            NDArray aImg = b.imgAttn.proj.forward(Attention.attention(iq[0], iq[1], iq[2], peImg)).mul(im[0].gate());
            NDArray mRest = f.sub(a);
            NDArray txtCtx = in.txt().mean(new int[] {1}, true).broadcast(x.getShape());
            NDArray vecCtx = vec.expandDims(1).broadcast(x.getShape());
            if (measure) {
                eF[s] += f.square().sum().getFloat();
                eA[s] += a.square().sum().getFloat();
                eTxt[s] += a.sub(aImg).square().sum().getFloat();
            }
            feed(fits.get("F~X"), s, measure, x, f);
            feed(fits.get("F~X/step"), s, measure, x, f);
            feed(fits.get("A~X"), s, measure, x, a);
            feed(fits.get("M~X"), s, measure, x, mRest);
            feed(fits.get("F~X,txt"), s, measure, x.concat(txtCtx, 2), f);
            feed(fits.get("F~X,vec"), s, measure, x.concat(vecCtx, 2), f);
            feed(fits.get("F~X,txt,vec"), s, measure, x.concat(txtCtx, 2).concat(vecCtx, 2), f);
        }
    }

    private static void feed(Fit fit, int s, boolean measure, NDArray x, NDArray f) {
        if (measure) fit.meters().get(s).accumulate(x, f);
        else fit.fits().get(fit.perStep() ? s : 0).accumulate(x, f);
    }
}
