"""Built-in codec parts: base codecs, critical-pixel predictors, restorers, sensing operators."""
