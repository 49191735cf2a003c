"""Tower specs: a YAML file or a deploy prototxt becomes a validated Tower (no I/O once parsed)."""
