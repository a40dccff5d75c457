"""msklabel: musculoskeletal MRI segmentation, biomarkers and PACS integration.

The package is kept light to import: heavy dependencies (torch, highdicom,
pynetdicom) are imported by the modules that need them.
"""

__version__ = "0.1.0"
