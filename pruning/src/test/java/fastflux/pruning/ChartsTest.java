package fastflux.pruning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import fastflux.model.BlockId;
import fastflux.model.FluxParams;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.CombinedDomainCategoryPlot;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.data.xy.XYDataset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChartsTest {
    /** A ranking of every block of {@code p}: scores rise with the position, reversed, so rank 1 is the last block. */
    static ImportanceReport ranking(FluxParams p, String metric) {
        List<ImportanceReport.Entry> entries = new ArrayList<>();
        int n = p.blockCount();
        for (int i = 0; i < n; i++) {
            double score = (n - i) * 0.01 - 0.2;
            entries.add(new ImportanceReport.Entry(BlockId.atPosition(i, p), null, null, null, score, n - i));
        }
        return new ImportanceReport(metric, metric.equals(ImportanceScorer.OUTPUT_MSE) ? Double.NaN : 0.5,
                metric.equals(ImportanceScorer.OUTPUT_MSE) ? Double.NaN : 0.5, "test", 8, new long[] {1}, null, null, entries);
    }

    @Test
    void theImportanceChartNamesEveryBlockInRankOrderAndMarksTheReplacedOnes(@TempDir Path dir) throws Exception {
        for (String config : new String[] {"flux-dev", "shapes-tiny"}) {
            FluxParams p = FluxParams.named(config);
            ImportanceReport r = ranking(p, config.equals("flux-dev") ? ImportanceScorer.OUTPUT_MSE : ImportanceScorer.FD_ALIGN);
            Set<BlockId> replaced = new HashSet<>(r.leastImportant(3));
            JFreeChart chart = Charts.importance(r, replaced);
            CategoryPlot plot = (CategoryPlot) chart.getPlot();
            assertEquals(PlotOrientation.HORIZONTAL, plot.getOrientation());
            List<String> names = new ArrayList<>();
            for (ImportanceReport.Entry e : r.ranked()) names.add(e.block().name());
            assertEquals(p.blockCount() == 57 ? 57 : 12, names.size(), config);
            assertEquals(names, plot.getCategories(), config + ": every block on the axis, rank 1 first");
            assertEquals(names, plot.getDataset().getColumnKeys());
            for (String name : names) {
                boolean bold = plot.getDomainAxis().getTickLabelFont(name).isBold();
                assertEquals(replaced.contains(BlockId.parse(name, p)), bold, name);
            }
            assertTrue(chart.getTitle().getText().contains(r.metric()));
            assertEquals(4, plot.getLegendItems().getItemCount()); // double/single x replaced/kept

            r.write(dir.resolve(config), replaced);
            BufferedImage png = ImageIO.read(dir.resolve(config).resolve("importance.png").toFile());
            assertEquals(Charts.WIDTH, png.getWidth());
            assertEquals(Charts.importanceHeight(p.blockCount()), png.getHeight());
        }
        assertEquals(130 + 16 * 57, Charts.importanceHeight(57)); // 16 px per block name
    }

    @Test
    void theSandwichChartHoldsTheMinibatchTheWholeSetAndTheHeldOutCurve(@TempDir Path dir) throws Exception {
        double[] losses = {0.5, 0.4, 0.45, 0.3, 0.2, 0.25, 0.1, 0.12};
        JFreeChart chart = Charts.sandwichCurves("Sandwich training of single_blocks.1", "sub", losses,
                new double[] {0.48, 0.11}, new int[] {0, 3, 6, 8}, new double[] {0.6, 0.5, 0.45, 0.44});
        XYPlot plot = (XYPlot) chart.getPlot();
        XYDataset d = plot.getDataset();
        assertEquals(3, d.getSeriesCount());
        assertEquals(8, d.getItemCount(0));
        assertEquals(2, d.getItemCount(1));
        assertEquals(8.0, d.getXValue(1, 1)); // after the last of 8 steps
        assertEquals(4, d.getItemCount(2));
        assertEquals(6.0, d.getXValue(2, 2));
        assertEquals(0.45, d.getYValue(2, 2));
        assertInstanceOf(LogAxis.class, plot.getRangeAxis(), "positive losses on a log scale");
        Charts.writePng(chart, Charts.WIDTH, Charts.HEIGHT, dir.resolve("c.png"));
        BufferedImage png = ImageIO.read(dir.resolve("c.png").toFile());
        assertEquals(Charts.WIDTH, png.getWidth());
        assertEquals(Charts.HEIGHT, png.getHeight());

        // nothing held out, a NaN loss: drawn all the same, on a linear axis when a value is not positive
        JFreeChart plain = Charts.sandwichCurves("t", null, new double[] {0.0, Double.NaN, 0.1}, new double[] {Double.NaN, 0.1},
                new int[0], new double[0]);
        assertEquals(2, ((XYPlot) plain.getPlot()).getDataset().getItemCount(0));
        BufferedImage img = Charts.render(plain, 400, 300);
        assertEquals(400, img.getWidth());
        assertEquals(300, img.getHeight());
    }

    @Test
    void comparisonPanelsRenderWithGapsAndSpreads() {
        List<String> cats = List.of("unpruned", "FastFLUX", "w/o ST");
        JFreeChart c = Charts.categoryPanels("Table 4", "sub", "variant", cats, List.of(
                new Charts.Panel("ours", List.of(new Charts.Series("overall", new double[] {0.7, 0.6, Double.NaN},
                        new double[] {0.01, Double.NaN, 0.02}))),
                new Charts.Panel("paper", List.of(new Charts.Series("HPS v2", new double[] {28.32, 28.58, 27.99})))), false);
        CombinedDomainCategoryPlot cp = (CombinedDomainCategoryPlot) c.getPlot();
        assertEquals(2, cp.getSubplots().size());
        assertEquals(cats, cp.getCategories());
        BufferedImage img = Charts.render(c, Charts.WIDTH, Charts.HEIGHT);
        assertEquals(Charts.HEIGHT, img.getHeight());

        JFreeChart x = Charts.xyPanels("Table 6", null, "ratio %", new double[] {0, 5, 10}, List.of(
                new Charts.Panel("ours", List.of(new Charts.Series("overall", new double[] {0.7, Double.NaN, 0.6},
                        new double[] {0.01, 0.01, Double.NaN})))));
        CombinedDomainXYPlot xp = (CombinedDomainXYPlot) x.getPlot();
        assertEquals(2, ((XYPlot) xp.getSubplots().get(0)).getDataset().getItemCount(0)); // the NaN is a gap
        assertEquals(Charts.WIDTH, Charts.render(x, Charts.WIDTH, Charts.HEIGHT).getWidth());
    }
}
