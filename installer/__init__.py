"""Install, uninstall and doctor for on-prem admins, and the composition roots.

The console (`installer.console`, the `cobridge` command) and the demo
(`installer.demo`) are the only modules that name both sides; nothing imports
this package.
"""
