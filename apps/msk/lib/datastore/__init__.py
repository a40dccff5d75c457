"""Datastores: DICOMweb (Orthanc) searching MR series, saving final labels as DICOM SEG."""
