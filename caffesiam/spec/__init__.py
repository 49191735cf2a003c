"""Tower specs: a YAML file or a deploy prototxt becomes a validated Tower (no I/O once parsed);
the blob names and param roles that the net builder shares with spec validation live here too."""
