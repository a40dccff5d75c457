"""Task configs: one per served model, built from the app's ``-c key value`` options."""
