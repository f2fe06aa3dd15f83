package fastflux.cli;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import fastflux.cli.MainTest.Outcome;
import fastflux.model.BlockId;
import fastflux.model.FluxModel;
import fastflux.model.Param;
import fastflux.model.PrunedModels;
import fastflux.model.Replacement;
import fastflux.model.Tensors;
import fastflux.pipeline.export.ExportOptions;
import fastflux.pipeline.export.FluxExport;
import fastflux.pipeline.layout.FluxCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code fastflux generate} from pruned exports of the flux-pipeline-a fixture, in both layouts and both modes. */
class GenerateFromExportTest {
    static final Path FIXTURE = Path.of("../pipeline/src/test/resources/fixtures/flux-pipeline-a");
    static final Path DIFFUSERS = FIXTURE.resolve("diffusers");
    static final Path BFL = FIXTURE.resolve("bfl");

    static void export(Path source, Path out, List<Replacement> replaced) {
        try (NDManager m = NDManager.newBaseManager()) {
            FluxModel model = FluxCheckpoint.open(source).load(m, DataType.FLOAT32);
            PrunedModels.apply(model, replaced);
            for (Param p : model.params().values()) {
                if (!p.hasValue()) p.set(Tensors.create(m, new float[(int) p.shape().size()], p.shape())); // a zero linear
            }
            FluxExport.write(model, source, out, ExportOptions.defaults());
        }
    }

    @Test
    void generateLoadsLinearAndDeleteExportsOfBothLayouts(@TempDir Path tmp) throws Exception {
        List<Replacement> linear = List.of(Replacement.linear(BlockId.ofDouble(0)));
        List<Replacement> delete = List.of(Replacement.delete(BlockId.ofSingle(1)));
        export(DIFFUSERS, tmp.resolve("d-linear"), linear);
        export(DIFFUSERS, tmp.resolve("d-delete"), delete);
        export(BFL, tmp.resolve("b-linear"), linear);
        export(BFL, tmp.resolve("b-delete"), delete);
        for (String name : List.of("d-linear", "d-delete", "b-linear", "b-delete")) {
            Path out = tmp.resolve(name + ".png");
            String[] argv = name.startsWith("d")
                    ? new String[] {"generate", "--model", tmp.resolve(name).toString(), "--prompt", "three yellow triangles",
                            "--width", "32", "--height", "32", "--steps", "2", "--max-sequence-length", "32", "--out", out.toString()}
                    : new String[] {"generate", "--model", tmp.resolve(name).toString(), "--text-encoders", DIFFUSERS.toString(),
                            "--prompt", "three yellow triangles", "--width", "32", "--height", "32", "--steps", "2",
                            "--max-sequence-length", "32", "--out", out.toString()};
            Outcome r = MainTest.run(argv);
            assertEquals(0, r.status(), name + ": " + r.err());
            assertTrue(r.out().contains("wrote 1 image(s) of 32x32"), name + ": " + r.out());
            assertTrue(Files.size(out) > 0, name);
        }
    }
}
