"""Watching a browser page for Content-Security-Policy violations and script errors.

Chromium reports a violation both as a ``securitypolicyviolation`` event in the page and as
a console message; both are kept, so nothing the policy blocks goes unseen, including what a
script blocked does not get to say. The listener is installed by Playwright before any of the
page's own scripts, through the DevTools protocol, which the policy does not govern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Page, Response

LISTEN = """
document.addEventListener('securitypolicyviolation', (event) => {
  (window.__cspViolations = window.__cspViolations || []).push(
    [event.violatedDirective, event.blockedURI, event.sourceFile + ':' + event.lineNumber].join(' ')
  );
}, true);
"""
HEADERS = ("content-security-policy", "x-frame-options", "referrer-policy", "permissions-policy")


@dataclass
class CspWatch:
    page: Page
    violations: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.add_init_script(LISTEN)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.script_errors.append(f"{self.page.url}: {error}"))

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.violations.append(f"{self.page.url}: {message.text}")

    def collect(self) -> None:
        """Keep the violations the current document saw (call before leaving it)."""
        found = self.page.evaluate("window.__cspViolations || []")
        self.violations.extend(f"{self.page.url}: {v}" for v in found)
        self.page.evaluate("window.__cspViolations = []")

    def visit(self, url: str, *, status: int = 200) -> Response:
        """Open ``url``, check its status and security headers, and keep its violations."""
        response = self.page.goto(url)
        assert response is not None, url
        assert response.status == status, f"{url}: {response.status}"
        headers = response.headers
        missing = [name for name in HEADERS if name not in headers]
        assert not missing, f"{url} lacks {missing}"
        self.page.wait_for_load_state("load")
        self.visited.append(url)
        self.collect()
        return response

    def assert_clean(self) -> None:
        self.collect()
        assert self.violations == [], "\n".join(self.violations)
        assert self.script_errors == [], "\n".join(self.script_errors)
