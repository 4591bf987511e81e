"""A plugin module that cannot even be imported."""

raise RuntimeError("broken_import cannot be imported: missing dependency frobnicate")
