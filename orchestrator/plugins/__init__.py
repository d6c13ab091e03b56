"""The plugin machinery: hook specs, the plugin manager, built-in step types, connectors and log stores.

Imports `core`, `authoring` and `store`; plugins themselves are found by pluggy, never imported by name.
"""
