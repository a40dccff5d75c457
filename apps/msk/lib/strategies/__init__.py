"""Active-learning strategies beyond MONAI Label's random and first."""
