"""Drop an image onto convlab serve's page in headless Chromium and print the class it shows,
the number of bars, and the class it shows after its "invert" box is ticked.

    python3 tests/browser/drop_image.py URL IMAGE.png [SCREENSHOT.png]

Driven by tests/serve/page_and_openapi.rs (the_page_shows_the_top_class_of_a_dropped_image). Uses Debian's
chromium (CONVLAB_CHROMIUM overrides the path) through Playwright; the drop is a real
`drop` event carrying the file in a DataTransfer, as a person's drag and drop sends it.
"""
import base64, os, sys

from playwright.sync_api import sync_playwright

url, image = sys.argv[1], sys.argv[2]
shot = sys.argv[3] if len(sys.argv) > 3 else None
data = base64.b64encode(open(image, "rb").read()).decode()
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=os.environ.get("CONVLAB_CHROMIUM", "/usr/bin/chromium"),
                                args=["--no-sandbox"])
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function("document.getElementById('model').textContent.includes('classes')")
    page.evaluate(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
            document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""",
        data,
    )
    page.wait_for_selector("#top-class", timeout=10_000)
    bars = page.locator(".bar").count()
    if shot:
        page.screenshot(path=shot, full_page=True)
    top = page.locator("#top-class").text_content()
    # Ticking "invert" asks again for the image's negative: its change handler clears the
    # answer at once, so the next #top-class is the new one.
    page.check("#invert")
    page.wait_for_selector("#top-class", timeout=10_000)
    print(top, bars, page.locator("#top-class").text_content())
    browser.close()
