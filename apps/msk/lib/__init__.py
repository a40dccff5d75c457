"""The msklabel MONAI Label app's task configs, infers, trainers, strategies and datastore."""
