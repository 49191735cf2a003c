"""Training: what is checked and decided before Caffe starts, the run itself, and its log parsed
into metrics.csv and loss.png."""
