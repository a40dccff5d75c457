"""Helpers that start real peers (e.g. Orthanc) for tests and benchmarks."""
