"""Debian's chromium at /usr/bin/chromium, driven through Playwright by the browser tests and
`make screenshots` (never a browser downloaded by `playwright install`)."""
EXECUTABLE = "/usr/bin/chromium"
# Headless in a container: no sandbox, no GPU, and nothing that reaches the network by itself.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def chromium_launch(playwright):
    """A headless chromium browser from a started sync_playwright()."""
    return playwright.chromium.launch(executable_path=EXECUTABLE, args=ARGS)
