"""Train tasks: fine-tuning the served segmenter (and the detector) on final labels."""
