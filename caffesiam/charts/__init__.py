"""Charts drawn with matplotlib, one PNG each: loss curves, ROC, embeddings, pair grids, sweeps."""
