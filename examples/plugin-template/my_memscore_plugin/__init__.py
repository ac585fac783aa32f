"""A minimal memscore plugin: one model, registered through the `memscore` entry point."""
