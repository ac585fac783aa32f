"""memscore's built-in plugins, installed as ``memscore_plugins``.

They are registered through the ``memscore`` entry-point group exactly like third-party plugins.
"""
