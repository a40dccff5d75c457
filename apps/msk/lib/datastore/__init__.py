"""Datastores with safe ids: local folders, and DICOMweb (Orthanc) searching MR series with final
labels saved as DICOM SEG."""
