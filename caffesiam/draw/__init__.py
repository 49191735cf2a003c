"""Net diagrams through Graphviz: towers and shared params (structure), layer summaries (labels),
the graph, and the file (render)."""
