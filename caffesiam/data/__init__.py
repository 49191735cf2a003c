"""Images in, pair databases out: sources, pure pair sampling and augmentation, Datum encoding,
LevelDB/LMDB stores written atomically with a manifest, and their readers."""
