"""The Blossom family as data: the catalog, file names, model shapes and memory estimates."""
