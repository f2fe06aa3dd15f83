package fastflux.pipeline.vae;

import static org.junit.jupiter.api.Assertions.*;

import fastflux.model.NumberOpsTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** No autoencoder class passes a Java number to a DJL tensor op (see {@code fastflux.model.Tensors}). */
class VaeNumberOpsTest {
    @Test
    void noClassPassesAJavaNumberToADjlTensorOp() throws Exception {
        Path classes = NumberOpsTest.classesDir(AutoEncoder.class).resolve("fastflux/pipeline/vae");
        assertTrue(Files.isRegularFile(classes.resolve("AutoEncoder.class")), classes.toString());
        assertEquals(List.of(), NumberOpsTest.offenders(classes), "use Tensors.add/mul/div/addi/muli instead");
    }
}
