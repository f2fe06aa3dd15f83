package fastflux.pruning;

import fastflux.model.BlockId;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Paint;
import java.awt.Rectangle;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import javax.imageio.ImageIO;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.LegendItem;
import org.jfree.chart.LegendItemCollection;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.CombinedDomainCategoryPlot;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.category.StatisticalLineAndShapeRenderer;
import org.jfree.chart.renderer.xy.XYErrorRenderer;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.statistics.DefaultStatisticalCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;

/**
 * The reports' charts, drawn with JFreeChart and written as PNG: the block importances ({@code importance.png}),
 * each sandwich's training and held-out loss ({@code report.md}), and the paper tables' comparisons. Static
 * functions that take plain numbers; each returns the chart so that tests can read its dataset and axes.
 */
public final class Charts {
    static {
        // Reports are written on servers without a display; AWT must not look for one.
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private Charts() {}

    /** Width of every chart in pixels. */
    public static final int WIDTH = 800;
    /** Height of the fixed-height charts (curves, comparisons) in pixels. */
    public static final int HEIGHT = 480;

    static final Color DOUBLE_COLOUR = new Color(0xE0, 0xA0, 0x20);
    static final Color SINGLE_COLOUR = new Color(0x30, 0x70, 0xC0);
    private static final Font LABEL_FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 11);
    private static final Font BOLD_LABEL_FONT = new Font(Font.SANS_SERIF, Font.BOLD, 11);
    // one colour per series of a chart, so that a legend shared by stacked panels stays unambiguous
    private static final Color[] SERIES = {new Color(0x30, 0x70, 0xC0), new Color(0xD0, 0x50, 0x30),
        new Color(0x40, 0x90, 0x40), new Color(0x80, 0x50, 0xA0), new Color(0x70, 0x70, 0x70), new Color(0xE0, 0xA0, 0x20),
        new Color(0x20, 0xA0, 0xB0), new Color(0xC0, 0x40, 0x90)};

    // ------------------------------------------------------------------ importance

    /** Height of the importance chart: one row of {@value #ROW} pixels per block, so every name stays legible. */
    public static int importanceHeight(int blocks) {
        return Math.max(360, 130 + ROW * blocks);
    }

    private static final int ROW = 16;

    /**
     * Horizontal bars of the blocks' scores in rank order (rank 1, the first replaced, at the top), every block
     * named on the category axis; double and single blocks in two colours, the {@code replaced} ones in full colour
     * with bold names and the kept ones pale.
     */
    public static JFreeChart importance(ImportanceReport r, Set<BlockId> replaced) {
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        List<ImportanceReport.Entry> ranked = r.ranked();
        for (ImportanceReport.Entry e : ranked) data.addValue(e.score(), "score", e.block().name());
        boolean mse = r.metric().equals(ImportanceScorer.OUTPUT_MSE);
        CategoryAxis blocks = new CategoryAxis("block (rank 1 at the top: replaced first)");
        blocks.setTickLabelFont(LABEL_FONT);
        blocks.setCategoryMargin(0.15);
        blocks.setLowerMargin(0.01);
        blocks.setUpperMargin(0.01);
        blocks.setMaximumCategoryLabelWidthRatio(0.3f);
        for (ImportanceReport.Entry e : ranked) {
            if (replaced.contains(e.block())) blocks.setTickLabelFont(e.block().name(), BOLD_LABEL_FONT);
        }
        double lo = Double.POSITIVE_INFINITY, hi = 0;
        for (ImportanceReport.Entry e : ranked) {
            lo = Math.min(lo, e.score());
            hi = Math.max(hi, e.score());
        }
        String label = mse ? "output MSE with the block switched off" : "importance score s_i";
        // Output MSEs can span decades (one block carrying the model): a log scale keeps the small ones, the blocks
        // replaced first, visible.
        ValueAxis score = lo > 0 && hi / lo > 30 ? logAxis(label + " (log scale)") : new NumberAxis(label);
        BarRenderer bars = new BarRenderer() {
            @Override
            public Paint getItemPaint(int row, int column) {
                return blockPaint(ranked.get(column).block(), replaced.contains(ranked.get(column).block()));
            }
        };
        bars.setBarPainter(new StandardBarPainter());
        bars.setShadowVisible(false);
        bars.setDrawBarOutline(false);
        bars.setIncludeBaseInRange(!(score instanceof LogAxis)); // on a log scale the bars start at the axis' lower end
        CategoryPlot plot = new CategoryPlot(data, blocks, score, bars);
        plot.setOrientation(PlotOrientation.HORIZONTAL);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        LegendItemCollection legend = new LegendItemCollection();
        for (BlockId.Kind kind : BlockId.Kind.values()) {
            BlockId any = kind == BlockId.Kind.DOUBLE ? BlockId.ofDouble(0) : BlockId.ofSingle(0);
            String name = kind == BlockId.Kind.DOUBLE ? "double-stream" : "single-stream";
            legend.add(new LegendItem(name + ", replaced", blockPaint(any, true)));
            legend.add(new LegendItem(name + ", kept", blockPaint(any, false)));
        }
        plot.setFixedLegendItems(legend);
        String params = mse ? "" : String.format(Locale.ROOT, ", α %s, β %s", plain(r.alpha()), plain(r.beta()));
        JFreeChart chart = new JFreeChart("Block importance (" + r.metric() + params + ")", JFreeChart.DEFAULT_TITLE_FONT,
                plot, true);
        chart.addSubtitle(new TextTitle(String.format(Locale.ROOT, "%d blocks ranked on %d prompts; %d replaced (bold)",
                ranked.size(), r.promptCount(), ranked.stream().filter(e -> replaced.contains(e.block())).count())));
        return finish(chart);
    }

    private static Paint blockPaint(BlockId b, boolean replaced) {
        Color c = b.kind() == BlockId.Kind.DOUBLE ? DOUBLE_COLOUR : SINGLE_COLOUR;
        return replaced ? c : tint(c, 0.6);
    }

    // a colour mixed with white: share 0 is the colour, 1 is white
    private static Color tint(Color c, double share) {
        return new Color((int) Math.round(c.getRed() + (255 - c.getRed()) * share),
                (int) Math.round(c.getGreen() + (255 - c.getGreen()) * share),
                (int) Math.round(c.getBlue() + (255 - c.getBlue()) * share));
    }

    private static String plain(double x) {
        return Double.isNaN(x) ? "-" : java.math.BigDecimal.valueOf(x).stripTrailingZeros().toPlainString();
    }

    // ------------------------------------------------------------------ sandwich training

    /**
     * One sandwich's losses against the optimiser step: each step's minibatch loss (before its update), the loss
     * over all training pairs before the first and after the last step, and the held-out loss where it was
     * measured. A log scale when every value is positive, since a loss often falls by orders of magnitude.
     *
     * @param losses the minibatch loss of step 0, 1, ...
     * @param trainFirstLast the loss over all training pairs before step 0 and after the last (NaN: unknown)
     * @param heldOutSteps the steps after which the held-out loss was measured (may be empty)
     */
    public static JFreeChart sandwichCurves(String title, String subtitle, double[] losses, double[] trainFirstLast,
                                            int[] heldOutSteps, double[] heldOutLosses) {
        XYSeriesCollection data = new XYSeriesCollection();
        XYSeries mini = new XYSeries("training minibatch", false, true);
        for (int i = 0; i < losses.length; i++) if (Double.isFinite(losses[i])) mini.add(i, losses[i]);
        data.addSeries(mini);
        XYSeries all = new XYSeries("all training pairs", false, true);
        if (Double.isFinite(trainFirstLast[0])) all.add(0, trainFirstLast[0]);
        if (Double.isFinite(trainFirstLast[1])) all.add(losses.length, trainFirstLast[1]);
        data.addSeries(all);
        XYSeries held = new XYSeries("held-out pairs", false, true);
        for (int i = 0; i < heldOutSteps.length; i++) {
            if (Double.isFinite(heldOutLosses[i])) held.add(heldOutSteps[i], heldOutLosses[i]);
        }
        data.addSeries(held);
        boolean positive = true;
        for (int s = 0; s < data.getSeriesCount(); s++) {
            for (int i = 0; i < data.getItemCount(s); i++) positive &= data.getYValue(s, i) > 0;
        }
        ValueAxis y;
        if (positive) {
            y = logAxis("MSE to the recorded outputs (log scale)");
        } else {
            NumberAxis lin = new NumberAxis("MSE to the recorded outputs");
            lin.setAutoRangeIncludesZero(false);
            y = lin;
        }
        NumberAxis x = new NumberAxis("optimiser step");
        x.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        x.setAutoRangeIncludesZero(true);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer();
        r.setSeriesPaint(0, tint(SERIES[0], 0.35));
        r.setSeriesStroke(0, new BasicStroke(1f));
        r.setSeriesShapesVisible(0, false);
        r.setSeriesPaint(1, SERIES[0].darker());
        r.setSeriesLinesVisible(1, false);
        r.setSeriesShape(1, new Rectangle(-4, -4, 8, 8));
        r.setSeriesPaint(2, SERIES[1]);
        r.setSeriesStroke(2, new BasicStroke(2f));
        r.setSeriesShapesVisible(2, true);
        XYPlot plot = new XYPlot(data, x, y, r);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        return finish(titled(new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true), subtitle));
    }

    private static LogAxis logAxis(String label) {
        LogAxis log = new LogAxis(label);
        log.setSmallestValue(1e-12);
        log.setNumberFormatOverride(THREE_DIGITS);
        return log;
    }

    /** Tick labels with three significant digits ("0.251", "1.00e-05"): a log axis' ticks fall between round numbers. */
    private static final java.text.NumberFormat THREE_DIGITS = new java.text.NumberFormat() {
        @Override
        public StringBuffer format(double number, StringBuffer to, java.text.FieldPosition pos) {
            return to.append(String.format(Locale.ROOT, "%.3g", number));
        }

        @Override
        public StringBuffer format(long number, StringBuffer to, java.text.FieldPosition pos) {
            return to.append(number);
        }

        @Override
        public Number parse(String source, java.text.ParsePosition pos) {
            throw new UnsupportedOperationException("tick labels are only written");
        }
    };

    // ------------------------------------------------------------------ comparisons (paper tables)

    /**
     * Values with their spread: {@code mean[i]} ± {@code sd[i]} at the i-th category or x; a NaN mean is a gap and a
     * NaN (or absent) sd draws no error bar.
     */
    public record Series(String name, double[] mean, double[] sd) {
        public Series {
            if (sd != null && sd.length != mean.length) throw new IllegalArgumentException(name + ": " + mean.length + " means, " + sd.length + " sds");
        }

        public Series(String name, double[] mean) {
            this(name, mean, null);
        }

        double sdAt(int i) {
            return sd == null ? Double.NaN : sd[i];
        }
    }

    /** One panel: its own value axis, so that metrics on different scales (ours, the paper's) stand side by side. */
    public record Panel(String valueLabel, List<Series> series) {
        public Panel {
            series = List.copyOf(series);
        }
    }

    /**
     * Categories along the x axis shared by stacked panels, each series a marker per category with its ± sd bar
     * ({@code joined}: consecutive categories joined by a line, for an ordered variable such as a width).
     */
    public static JFreeChart categoryPanels(String title, String subtitle, String categoryLabel, List<String> categories,
                                            List<Panel> panels, boolean joined) {
        CategoryAxis x = new CategoryAxis(categoryLabel);
        x.setTickLabelFont(LABEL_FONT);
        x.setMaximumCategoryLabelLines(3);
        CombinedDomainCategoryPlot plot = new CombinedDomainCategoryPlot(x);
        plot.setGap(12);
        int colour = 0;
        for (Panel p : panels) {
            DefaultStatisticalCategoryDataset data = new DefaultStatisticalCategoryDataset();
            for (Series s : p.series()) {
                for (int i = 0; i < categories.size(); i++) {
                    double m = s.mean()[i];
                    double sd = s.sdAt(i);
                    data.add(Double.isFinite(m) ? m : null, Double.isFinite(m) && Double.isFinite(sd) ? sd : null, s.name(),
                            categories.get(i));
                }
            }
            StatisticalLineAndShapeRenderer r = new StatisticalLineAndShapeRenderer(joined, true);
            r.setErrorIndicatorStroke(new BasicStroke(1.5f));
            for (int i = 0; i < p.series().size(); i++) {
                r.setSeriesPaint(i, SERIES[colour++ % SERIES.length]);
                r.setSeriesShape(i, new java.awt.geom.Ellipse2D.Double(-5, -5, 10, 10));
            }
            NumberAxis y = new NumberAxis(p.valueLabel());
            y.setAutoRangeIncludesZero(false);
            y.setUpperMargin(0.1); // room for the markers at the ends
            y.setLowerMargin(0.1);
            CategoryPlot sub = new CategoryPlot(data, null, y, r);
            sub.setBackgroundPaint(Color.WHITE);
            sub.setRangeGridlinePaint(Color.LIGHT_GRAY);
            plot.add(sub);
        }
        return finish(titled(new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true), subtitle));
    }

    /** As {@link #categoryPanels}, along a numeric x axis: each series a line through its points, ± sd bars. */
    public static JFreeChart xyPanels(String title, String subtitle, String xLabel, double[] x, List<Panel> panels) {
        NumberAxis xa = new NumberAxis(xLabel);
        xa.setAutoRangeIncludesZero(false);
        double step = x.length > 1 ? x[1] - x[0] : 0;
        for (int i = 2; i < x.length; i++) if (x[i] - x[i - 1] != step) step = 0;
        if (step > 0) xa.setTickUnit(new org.jfree.chart.axis.NumberTickUnit(step)); // ticks at the measured x values
        CombinedDomainXYPlot plot = new CombinedDomainXYPlot(xa);
        plot.setGap(12);
        int colour = 0;
        for (Panel p : panels) {
            YIntervalSeriesCollection data = new YIntervalSeriesCollection();
            for (Series s : p.series()) {
                YIntervalSeries ys = new YIntervalSeries(s.name());
                for (int i = 0; i < x.length; i++) {
                    double m = s.mean()[i];
                    if (!Double.isFinite(m)) continue;
                    double sd = Double.isFinite(s.sdAt(i)) ? s.sdAt(i) : 0;
                    ys.add(x[i], m, m - sd, m + sd);
                }
                data.addSeries(ys);
            }
            XYErrorRenderer r = new XYErrorRenderer();
            r.setDrawXError(false);
            r.setDefaultLinesVisible(true);
            r.setCapLength(6);
            for (int i = 0; i < p.series().size(); i++) {
                r.setSeriesPaint(i, SERIES[colour++ % SERIES.length]);
                r.setSeriesStroke(i, new BasicStroke(1.5f));
            }
            NumberAxis y = new NumberAxis(p.valueLabel());
            y.setAutoRangeIncludesZero(false);
            y.setUpperMargin(0.1); // room for the markers at the ends
            y.setLowerMargin(0.1);
            XYPlot sub = new XYPlot(data, null, y, r);
            sub.setBackgroundPaint(Color.WHITE);
            sub.setDomainGridlinePaint(Color.LIGHT_GRAY);
            sub.setRangeGridlinePaint(Color.LIGHT_GRAY);
            plot.add(sub);
        }
        return finish(titled(new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true), subtitle));
    }

    private static JFreeChart titled(JFreeChart chart, String subtitle) {
        if (subtitle != null) {
            TextTitle t = new TextTitle(subtitle, LABEL_FONT);
            t.setMaximumLinesToDisplay(3);
            chart.addSubtitle(t);
        }
        return chart;
    }

    // ------------------------------------------------------------------ output

    private static JFreeChart finish(JFreeChart chart) {
        chart.setBackgroundPaint(Color.WHITE);
        chart.setPadding(new RectangleInsets(8, 8, 8, 16));
        chart.setAntiAlias(true);
        chart.setTextAntiAlias(true);
        return chart;
    }

    /** The chart drawn on a {@code width} × {@code height} image. */
    public static BufferedImage render(JFreeChart chart, int width, int height) {
        return chart.createBufferedImage(width, height, BufferedImage.TYPE_INT_RGB, null);
    }

    /** Writes the chart as a {@code width} × {@code height} PNG, via a temp file renamed into place. */
    public static void writePng(JFreeChart chart, int width, int height, Path file) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            if (!ImageIO.write(render(chart, width, height), "png", tmp.toFile())) throw new IOException("no PNG writer");
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the chart " + file, e);
        }
    }
}
