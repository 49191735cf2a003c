"""Pictures: net diagrams through Graphviz (structure, labels, graph, render) and matplotlib plots."""
