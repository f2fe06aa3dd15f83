package fastflux.pipeline.vae;

import static org.junit.jupiter.api.Assertions.*;

import fastflux.model.io.SafetensorsReader;
import java.io.IOException;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class AutoEncoderLayoutTest {
    @Test
    void diffusersNamesAreTheFixturesKeySet() throws IOException {
        AutoEncoderParams p = AutoEncoderTest.pipelineParams();
        AutoEncoder ae = new AutoEncoder(p);
        Set<String> mapped = new TreeSet<>();
        for (String name : ae.params().keySet()) mapped.add(AutoEncoderLayout.DIFFUSERS.fileKey(name, p.levels()));
        assertEquals(ae.params().size(), mapped.size(), "one diffusers name per tensor");
        try (SafetensorsReader d = SafetensorsReader.open(AutoEncoderTest.DIFFUSERS_VAE.resolve(AutoEncoder.DIFFUSERS_WEIGHTS));
             SafetensorsReader b = SafetensorsReader.open(AutoEncoderTest.BFL_AE)) {
            assertEquals(new TreeSet<>(d.names()), mapped);
            assertEquals(new TreeSet<>(b.names()), new TreeSet<>(ae.params().keySet()));
        }
    }

    @Test
    void namesOfEachKind() {
        AutoEncoderLayout d = AutoEncoderLayout.DIFFUSERS;
        assertEquals("encoder.down_blocks.1.resnets.0.conv_shortcut.weight", d.fileKey("encoder.down.1.block.0.nin_shortcut.weight", 4));
        assertEquals("encoder.down_blocks.2.downsamplers.0.conv.bias", d.fileKey("encoder.down.2.downsample.conv.bias", 4));
        assertEquals("decoder.up_blocks.3.resnets.2.norm1.weight", d.fileKey("decoder.up.0.block.2.norm1.weight", 4));
        assertEquals("decoder.up_blocks.0.upsamplers.0.conv.weight", d.fileKey("decoder.up.3.upsample.conv.weight", 4));
        assertEquals("decoder.mid_block.resnets.1.conv2.weight", d.fileKey("decoder.mid.block_2.conv2.weight", 4));
        assertEquals("encoder.mid_block.attentions.0.to_out.0.weight", d.fileKey("encoder.mid.attn_1.proj_out.weight", 4));
        assertEquals("encoder.mid_block.attentions.0.group_norm.bias", d.fileKey("encoder.mid.attn_1.norm.bias", 4));
        assertEquals("decoder.conv_norm_out.weight", d.fileKey("decoder.norm_out.weight", 4));
        assertEquals("decoder.conv_in.weight", d.fileKey("decoder.conv_in.weight", 4));
        assertEquals(new ai.djl.ndarray.types.Shape(512, 512),
                d.fileShape("decoder.mid.attn_1.q.weight", new ai.djl.ndarray.types.Shape(512, 512, 1, 1)));
    }
}
