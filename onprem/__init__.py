"""Adapters to the on-prem configuration-manager site.

The site database (read through its documented views), and later the
directory, the clients over WinRM and the site's REST admin service. Each
adapter has one chokepoint where library exceptions become `onprem.errors`.
"""
