"""The site's co-management side: drift rule, settings text, and the embedded site's implementation.

The port is `onprem.site_authority`; `onprem.authority.embedded` implements
it on the embedded site store (SQLite or PostgreSQL), and the pure pieces
(`drift`, `settings_text`) serve any implementation.
"""
