"""Infer tasks: interactive clicks and boxes, automatic, and propagation through slices."""
