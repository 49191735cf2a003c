"""build-db as a library: gather (sources loaded, outputs checked), plan (pure), run (written)."""
