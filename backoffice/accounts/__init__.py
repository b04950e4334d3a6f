"""The operator's door: login throttling, two-factor authentication, sessions and security headers."""
