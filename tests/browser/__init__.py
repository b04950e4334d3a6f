"""Admin pages driven in a real browser: Playwright steering headless Chromium."""
