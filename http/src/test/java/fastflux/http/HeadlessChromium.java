package fastflux.http;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * Debian's Chromium driven by its chromedriver, headless, for the dashboard's browser tests. The two binaries are
 * required: without them the test fails naming the packages (Selenium's own driver download is never used; the
 * build machines are offline).
 */
final class HeadlessChromium {
    private HeadlessChromium() {}

    /** The browser and its driver; system properties {@code fastflux.test.chromium} and {@code .chromedriver} override. */
    static final Path BROWSER = Path.of(System.getProperty("fastflux.test.chromium", "/usr/bin/chromium"));
    static final Path DRIVER = Path.of(System.getProperty("fastflux.test.chromedriver", "/usr/bin/chromedriver"));

    /**
     * Fails unless the browser and its driver are installed.
     *
     * @throws IllegalStateException naming the Debian packages when the browser or its driver is missing
     */
    static void requireInstalled() {
        List<String> missing = new ArrayList<>();
        if (!Files.isExecutable(BROWSER)) missing.add(BROWSER + " (Debian package chromium)");
        if (!Files.isExecutable(DRIVER)) missing.add(DRIVER + " (Debian package chromium-driver)");
        if (!missing.isEmpty()) {
            throw new IllegalStateException("the dashboard's browser test needs Chromium and its WebDriver: missing "
                    + String.join(" and ", missing) + "; install them with `apt-get install chromium chromium-driver` "
                    + "(.ci/run does)");
        }
    }

    /**
     * A fresh headless browser of {@code width × height} CSS pixels.
     *
     * @throws IllegalStateException naming the Debian packages when the browser or its driver is missing
     */
    static ChromeDriver start(int width, int height) {
        requireInstalled();
        ChromeOptions o = new ChromeOptions();
        o.setBinary(BROWSER.toFile());
        // --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start
        o.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=" + width + "," + height, "--hide-scrollbars", "--force-device-scale-factor=1");
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(DRIVER.toFile())
                .usingAnyFreePort().build();
        return new ChromeDriver(service, o);
    }
}
