package fastflux.pipeline.clip;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import fastflux.pipeline.RgbImage;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * Hugging Face's (Pillow-based) {@code CLIPImageProcessor}, step for step: resize (the shortest edge to
 * {@code size.shortest_edge}, the long one to {@code int(shortest_edge · long / short)}, truncated; or to a fixed
 * {@code height} × {@code width}) with {@link PillowResample} on the 8-bit image; centre crop at
 * {@code top = (H - crop_height) // 2}, {@code left = (W - crop_width) // 2} (floor: an odd margin leaves the
 * extra row or column at the bottom or right; an image smaller than the crop is padded with zeros as
 * {@code transformers.image_transforms.center_crop} does); rescale, {@code float32(u8 · rescale_factor)} with the
 * product in double; normalise, {@code (x - mean) / std} in float32; channels first. The input is already RGB
 * ({@code do_convert_rgb}: {@link #readImage} drops alpha and expands grey as Pillow's {@code convert("RGB")}).
 * See docs/clip.md for the measured agreement.
 *
 * @param doResize {@code do_resize}
 * @param shortestEdge {@code size.shortest_edge} (or a bare integer {@code size}, as older configs write it); 0 when
 *     the size is a fixed height and width
 * @param resizeHeight {@code size.height} when {@code shortestEdge} is 0
 * @param resizeWidth {@code size.width} when {@code shortestEdge} is 0
 * @param resample {@code resample}, Pillow's filter number (3, bicubic, for CLIP)
 * @param doCenterCrop {@code do_center_crop}
 * @param cropHeight {@code crop_size.height} (or a bare integer {@code crop_size})
 * @param cropWidth {@code crop_size.width}
 * @param doRescale {@code do_rescale}
 * @param rescaleFactor {@code rescale_factor} (default 1/255)
 * @param doNormalize {@code do_normalize}
 * @param mean {@code image_mean}, per channel
 * @param std {@code image_std}, per channel
 */
public record ClipImageProcessor(boolean doResize, int shortestEdge, int resizeHeight, int resizeWidth,
                                 PillowResample.Filter resample, boolean doCenterCrop, int cropHeight, int cropWidth,
                                 boolean doRescale, double rescaleFactor, boolean doNormalize, float[] mean,
                                 float[] std) {

    /** OpenAI CLIP's channel means ({@code OPENAI_CLIP_MEAN}), the default of {@code image_mean}. */
    public static final double[] CLIP_MEAN = {0.48145466, 0.4578275, 0.40821073};
    /** OpenAI CLIP's channel standard deviations ({@code OPENAI_CLIP_STD}), the default of {@code image_std}. */
    public static final double[] CLIP_STD = {0.26862954, 0.26130258, 0.27577711};

    public ClipImageProcessor {
        List<String> problems = new ArrayList<>();
        if (doResize) {
            if (shortestEdge < 0 || (shortestEdge == 0 && (resizeHeight < 1 || resizeWidth < 1))) {
                problems.add("\"size\" needs a positive \"shortest_edge\" or a positive \"height\" and \"width\", got "
                        + (shortestEdge != 0 ? "shortest_edge " + shortestEdge : resizeHeight + "x" + resizeWidth));
            }
            if (resample == null) problems.add("no \"resample\" filter");
        }
        if (doCenterCrop && (cropHeight < 1 || cropWidth < 1)) {
            problems.add("\"crop_size\" must be positive, got " + cropHeight + "x" + cropWidth);
        }
        if (doRescale && !(rescaleFactor > 0 && Double.isFinite(rescaleFactor))) {
            problems.add("\"rescale_factor\" must be a positive number, got " + rescaleFactor);
        }
        if (doNormalize) {
            if (mean == null || mean.length != 3) problems.add("\"image_mean\" needs 3 values (RGB)");
            if (std == null || std.length != 3) {
                problems.add("\"image_std\" needs 3 values (RGB)");
            } else {
                for (float v : std) {
                    if (!(v > 0) || !Float.isFinite(v)) {
                        problems.add("\"image_std\" values must be positive, got " + java.util.Arrays.toString(std));
                        break;
                    }
                }
            }
        }
        if (!problems.isEmpty()) throw new IllegalArgumentException(String.join("; ", problems));
    }

    /** CLIP ViT-L/14's processor: shortest edge 224, bicubic, centre crop 224 × 224, CLIP's mean and std. */
    public static ClipImageProcessor clipL() {
        return new ClipImageProcessor(true, 224, 0, 0, PillowResample.Filter.BICUBIC, true, 224, 224, true,
                1 / 255.0, true, toFloats(CLIP_MEAN), toFloats(CLIP_STD));
    }

    /** Reads a {@code preprocessor_config.json}; every problem is named with the file. */
    public static ClipImageProcessor read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + ": no such file (a CLIPModel folder holds preprocessor_config.json)");
        }
        try {
            return fromJson(ClipJson.readObject(file));
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith(file.toString())) throw e;
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** The processor from {@code CLIPImageProcessor} fields; absent fields take its defaults. */
    public static ClipImageProcessor fromJson(JsonObject o) {
        List<String> problems = new ArrayList<>();
        boolean doResize = ClipJson.bool(o, "do_resize", true, problems);
        int shortest = 224, height = 0, width = 0;
        JsonElement size = o.get("size");
        if (size != null && !size.isJsonNull()) {
            if (ClipJson.isNumber(size)) {
                // A bare integer is the shortest edge (get_size_dict(size, default_to_square=False)).
                shortest = integerValue(size, "size", problems);
            } else if (size.isJsonObject() && size.getAsJsonObject().has("shortest_edge")) {
                JsonObject s = size.getAsJsonObject();
                if (s.has("longest_edge")) problems.add("\"size\" with \"longest_edge\" is not supported: " + size);
                shortest = ClipJson.integer(s, "shortest_edge", null, problems);
            } else if (size.isJsonObject() && size.getAsJsonObject().has("height")) {
                shortest = 0;
                height = ClipJson.integer(size.getAsJsonObject(), "height", null, problems);
                width = ClipJson.integer(size.getAsJsonObject(), "width", null, problems);
            } else {
                problems.add("\"size\" must be an integer, {\"shortest_edge\": n} or {\"height\": h, \"width\": w}, got " + size);
            }
        }
        PillowResample.Filter filter = null;
        int resample = ClipJson.integer(o, "resample", 3, problems);
        try {
            filter = PillowResample.Filter.ofPillowCode(resample);
        } catch (IllegalArgumentException e) {
            if (doResize) problems.add("\"resample\": " + e.getMessage());
        }
        boolean doCrop = ClipJson.bool(o, "do_center_crop", true, problems);
        int cropH = 224, cropW = 224;
        JsonElement crop = o.get("crop_size");
        if (crop != null && !crop.isJsonNull()) {
            if (ClipJson.isNumber(crop)) {
                cropH = cropW = integerValue(crop, "crop_size", problems);
            } else if (crop.isJsonObject()) {
                cropH = ClipJson.integer(crop.getAsJsonObject(), "height", null, problems);
                cropW = ClipJson.integer(crop.getAsJsonObject(), "width", null, problems);
            } else {
                problems.add("\"crop_size\" must be an integer or {\"height\": h, \"width\": w}, got " + crop);
            }
        }
        boolean doRescale = ClipJson.bool(o, "do_rescale", true, problems);
        double factor = ClipJson.number(o, "rescale_factor", 1 / 255.0, problems);
        boolean doNormalize = ClipJson.bool(o, "do_normalize", true, problems);
        float[] mean = triple(o, "image_mean", CLIP_MEAN, problems);
        float[] std = triple(o, "image_std", CLIP_STD, problems);
        for (float v : std) {
            if (!(v > 0) || !Float.isFinite(v)) {
                problems.add("\"image_std\" values must be positive, got " + o.get("image_std"));
                break;
            }
        }
        if (!problems.isEmpty()) throw new IllegalArgumentException(String.join("; ", problems));
        return new ClipImageProcessor(doResize, shortest, height, width, filter, doCrop, cropH, cropW, doRescale,
                factor, doNormalize, mean, std);
    }

    /** The output's height: the crop's, else the resize's (shortest-edge resizes depend on the image). */
    public int outputHeight(RgbImage image) {
        return doCenterCrop ? cropHeight : resizedSize(image)[1];
    }

    public int outputWidth(RgbImage image) {
        return doCenterCrop ? cropWidth : resizedSize(image)[0];
    }

    /** The resize's target {width, height} for {@code image} ({@code get_resize_output_image_size}). */
    public int[] resizedSize(RgbImage image) {
        int w = image.width(), h = image.height();
        if (!doResize) return new int[] {w, h};
        if (shortestEdge == 0) return new int[] {resizeWidth, resizeHeight};
        int shortSide = Math.min(w, h), longSide = Math.max(w, h);
        // Python's int(size * long / short): the quotient in double, truncated.
        int newLong = (int) ((double) ((long) shortestEdge * longSide) / shortSide);
        return w <= h ? new int[] {shortestEdge, newLong} : new int[] {newLong, shortestEdge};
    }

    /** The image after resize and centre crop, still 8-bit. */
    public RgbImage resizeAndCrop(RgbImage image) {
        RgbImage x = image;
        if (doResize) {
            int[] size = resizedSize(image);
            x = PillowResample.resize(x, size[0], size[1], resample);
        }
        if (doCenterCrop) x = centerCrop(x, cropHeight, cropWidth);
        return x;
    }

    /**
     * {@code transformers.image_transforms.center_crop}: the window at top {@code (H - ch) // 2}, left
     * {@code (W - cw) // 2} (Python's floor division); where the image is smaller than the crop it is first placed
     * on zeros with {@code ceil} of half the missing rows or columns above or left.
     */
    public static RgbImage centerCrop(RgbImage image, int cropHeight, int cropWidth) {
        int h = image.height(), w = image.width();
        if (h == cropHeight && w == cropWidth) return image;
        int top = Math.floorDiv(h - cropHeight, 2), left = Math.floorDiv(w - cropWidth, 2);
        int padTop = 0, padLeft = 0;
        if (top < 0 || left < 0 || top + cropHeight > h || left + cropWidth > w) {
            int newH = Math.max(cropHeight, h), newW = Math.max(cropWidth, w);
            padTop = (newH - h + 1) / 2;
            padLeft = (newW - w + 1) / 2;
            // floor(-m/2) + ceil(m/2) = 0: the window then starts at the padded image's first row or column.
            top += padTop;
            left += padLeft;
        }
        byte[] src = image.rgb();
        byte[] out = new byte[cropHeight * cropWidth * 3];
        for (int y = 0; y < cropHeight; y++) {
            int sy = top + y - padTop;
            if (sy < 0 || sy >= h) continue;
            for (int x = 0; x < cropWidth; x++) {
                int sx = left + x - padLeft;
                if (sx < 0 || sx >= w) continue;
                System.arraycopy(src, (sy * w + sx) * 3, out, (y * cropWidth + x) * 3, 3);
            }
        }
        return new RgbImage(cropWidth, cropHeight, out);
    }

    /** {@code pixel_values} of one image: [3, H, W] flattened, channels first, RGB. */
    public float[] pixelValues(RgbImage image) {
        RgbImage x = resizeAndCrop(image);
        int plane = x.width() * x.height();
        byte[] rgb = x.rgb();
        float[] out = new float[3 * plane];
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < plane; p++) {
                int u8 = rgb[p * 3 + c] & 0xff;
                // rescale: numpy multiplies in float64 and casts to float32; normalise in float32.
                float v = doRescale ? (float) (u8 * rescaleFactor) : u8;
                if (doNormalize) v = (v - mean[c]) / std[c];
                out[c * plane + p] = v;
            }
        }
        return out;
    }

    /**
     * Reads an image file as 8-bit RGB, as Pillow's {@code convert("RGB")} would: alpha is dropped, grey is copied
     * to the three channels, palettes are looked up. Samples are read from the raster, so no colour management
     * changes them.
     */
    public static RgbImage readImage(Path file) throws IOException {
        BufferedImage img = ImageIO.read(file.toFile());
        if (img == null) throw new IOException(file + ": not an image this Java runtime can decode");
        try {
            return toRgb(img);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    /** A decoded image as 8-bit RGB (see {@link #readImage}). */
    public static RgbImage toRgb(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        byte[] rgb = new byte[w * h * 3];
        Raster r = img.getRaster();
        int bands = r.getNumBands();
        boolean indexed = img.getColorModel() instanceof IndexColorModel;
        boolean eightBit = true;
        for (int b = 0; b < bands; b++) eightBit &= r.getSampleModel().getSampleSize(b) == 8;
        if (!indexed && eightBit && (bands == 3 || bands == 4 || bands == 1 || bands == 2)) {
            int[] px = new int[bands];
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    r.getPixel(x, y, px);
                    int o = (y * w + x) * 3;
                    if (bands >= 3) {
                        rgb[o] = (byte) px[0];
                        rgb[o + 1] = (byte) px[1];
                        rgb[o + 2] = (byte) px[2];
                    } else {
                        rgb[o] = rgb[o + 1] = rgb[o + 2] = (byte) px[0];
                    }
                }
            }
            return new RgbImage(w, h, rgb);
        }
        if (!indexed && !eightBit) {
            throw new IllegalArgumentException("only 8-bit images are read (Pillow's 8-bit modes); this one has "
                    + r.getSampleModel().getSampleSize(0) + "-bit samples");
        }
        // Palettes: getRGB looks the index up.
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int argb = img.getRGB(x, y);
                int o = (y * w + x) * 3;
                rgb[o] = (byte) (argb >> 16);
                rgb[o + 1] = (byte) (argb >> 8);
                rgb[o + 2] = (byte) argb;
            }
        }
        return new RgbImage(w, h, rgb);
    }

    private static int integerValue(JsonElement e, String field, List<String> problems) {
        double v = e.getAsDouble();
        if (v != Math.rint(v) || Math.abs(v) > Integer.MAX_VALUE) {
            problems.add("\"" + field + "\" must be an integer, got " + e);
            return 0;
        }
        return (int) v;
    }

    private static float[] triple(JsonObject o, String field, double[] fallback, List<String> problems) {
        JsonElement e = o.get(field);
        if (e == null || e.isJsonNull()) return toFloats(fallback);
        if (ClipJson.isNumber(e)) { // one value for every channel
            float v = (float) e.getAsDouble();
            return new float[] {v, v, v};
        }
        if (!e.isJsonArray() || e.getAsJsonArray().size() != 3) {
            problems.add("\"" + field + "\" must be 3 numbers (RGB), got " + e);
            return toFloats(fallback);
        }
        float[] out = new float[3];
        for (int i = 0; i < 3; i++) {
            JsonElement v = e.getAsJsonArray().get(i);
            if (!ClipJson.isNumber(v)) {
                problems.add("\"" + field + "\" must be 3 numbers (RGB), got " + e);
                return toFloats(fallback);
            }
            // numpy's normalize casts mean and std to the image's float32.
            out[i] = (float) v.getAsDouble();
        }
        return out;
    }

    private static float[] toFloats(double[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = (float) v[i];
        return out;
    }
}
